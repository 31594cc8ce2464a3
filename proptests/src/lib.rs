//! Property tests of reactree's runtime invariants live in `tests/`; this crate has no API.
