//! A supervisor's restarts waiting out their backoff.
//!
//! A child is in at most one plan. Planning it again moves it, and forgetting it (an
//! undeploy, a removal) takes it out, each without a pass over the plans: a plan keeps
//! its list and a count of the children still in it, skips those whose place is now
//! elsewhere when it comes due, and goes as soon as its count is zero (a plan of
//! children all undeployed does not wait out its backoff). The earliest plan is found by
//! its key. Before, every forgotten child and every
//! new plan filtered every plan, and every event looked through them all for the
//! earliest: a mass failure of k children under one-for-one with backoff left k plans,
//! and undeploying them took k² steps.

use std::collections::BTreeMap;
use std::time::Instant;

use reactree_supervisors::ChildId;

use crate::bus::FastMap;

/// A plan's key: when it is due, and a count that keeps plans due at the same instant
/// apart, in the order they were made.
type Key = (Instant, u64);

/// The children one plan restarts, in order, and how many of them are still in it.
struct Plan {
    restart: Vec<ChildId>,
    still: usize,
}

/// Restarts waiting out their backoff, by due time.
#[derive(Default)]
pub(crate) struct Plans {
    due: BTreeMap<Key, Plan>,
    /// The plan each planned child is in now.
    planned: FastMap<ChildId, Key>,
    made: u64,
}

impl Plans {
    /// When the earliest plan is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.due.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Plans to restart `restart`, in that order, at `due`; each leaves any plan it was
    /// in.
    pub(crate) fn plan(&mut self, due: Instant, restart: Vec<ChildId>) {
        let key = (due, self.made);
        self.made += 1;
        for &id in &restart {
            self.forget(id);
            self.planned.insert(id, key);
        }
        let still = restart.len();
        if still > 0 {
            self.due.insert(key, Plan { restart, still });
        }
    }

    /// Takes `id` out of its plan, if it is in one; the plan goes with its last child.
    pub(crate) fn forget(&mut self, id: ChildId) {
        let Some(key) = self.planned.remove(&id) else {
            return;
        };
        if let Some(plan) = self.due.get_mut(&key) {
            plan.still -= 1;
            if plan.still == 0 {
                self.due.remove(&key);
            }
        }
    }

    /// Takes out every plan due by `now`, earliest first, each with the children still
    /// in it (in their planned order).
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<Vec<ChildId>> {
        let mut taken = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, plan) = entry.remove_entry();
            let mut still = Vec::with_capacity(plan.still);
            for id in plan.restart {
                if self.planned.get(&id) == Some(&key) {
                    self.planned.remove(&id);
                    still.push(id);
                }
            }
            taken.push(still);
        }
        taken
    }

    /// Drops every plan.
    pub(crate) fn clear(&mut self) {
        self.due.clear();
        self.planned.clear();
    }

    /// How many children are planned, and in how many plans.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.planned.len(), self.due.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reactree_supervisors::{RestartType, SupervisorPolicy};

    use super::*;

    fn ids(n: usize) -> Vec<ChildId> {
        let mut policy = SupervisorPolicy::default();
        (0..n)
            .map(|_| policy.add_child(RestartType::Permanent).unwrap())
            .collect()
    }

    #[test]
    fn plans_come_due_earliest_first_with_the_children_still_in_them() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let c = ids(6);
        let mut plans = Plans::default();
        assert_eq!(plans.next_due(), None);
        plans.plan(now + Duration::from_millis(20), vec![c[0], c[1], c[2]]);
        plans.plan(now + Duration::from_millis(10), vec![c[3]]);
        plans.plan(later, vec![c[4]]);
        assert_eq!(plans.next_due(), Some(now + Duration::from_millis(10)));
        // Forgotten, and moved to another plan: both leave their first plan.
        plans.forget(c[1]);
        plans.plan(later, vec![c[2], c[5]]);
        assert_eq!(plans.len(), (5, 4));
        let due = plans.take_due(now + Duration::from_millis(30));
        assert_eq!(due, vec![vec![c[3]], vec![c[0]]]);
        assert_eq!(plans.next_due(), Some(later));
        assert!(plans.take_due(now).is_empty());
        // Plans due at one instant come in the order they were made.
        assert_eq!(plans.take_due(later), vec![vec![c[4]], vec![c[2], c[5]]]);
        assert_eq!(plans.len(), (0, 0));
        assert_eq!(plans.next_due(), None);
    }

    #[test]
    fn a_plan_goes_with_the_last_child_to_leave_it() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let c = ids(3);
        let mut plans = Plans::default();
        plans.plan(later, c.clone());
        plans.forget(c[0]);
        plans.forget(c[0]);
        plans.forget(c[1]);
        assert_eq!(plans.len(), (1, 1));
        // Moved to a plan of its own: the first plan is left with nobody, and goes.
        plans.plan(now, vec![c[2]]);
        assert_eq!(plans.len(), (1, 1));
        assert_eq!(plans.next_due(), Some(now));
        plans.forget(c[2]);
        assert_eq!((plans.len(), plans.next_due()), ((0, 0), None));
        plans.plan(now, vec![c[0]]);
        plans.clear();
        assert_eq!((plans.len(), plans.next_due()), ((0, 0), None));
    }
}
