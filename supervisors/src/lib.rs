//! The pure supervision policy of reactree (work in progress).
