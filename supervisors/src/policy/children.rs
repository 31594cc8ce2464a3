//! The child table: every child the policy knows, in start order.
//!
//! Invariants: `list` is sorted by id, ids are unique and never reused (`next_id`
//! only grows), so start order is id order and lookups search by id (see `position`).
//! A child removed from the middle stays as a tombstone (`gone`), keeping its id for
//! the searches, so a removal moves no other entry; tombstones at either end go at
//! once, and the rest once they outnumber the children (`gone` counts them), so the
//! table is at most twice its children and a removal costs O(1) amortized.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Duration;

use crate::{ChildId, ChildInfo, ChildState, EventError, RestartType, Timestamp};

/// One child's record: 32 bytes, as a supervisor keeps one per child (a million
/// children are a million records). Its counters are kept narrower than
/// [`ChildInfo`]'s and saturate: four billion restarts of one child, or a streak of
/// 65,535 (a backoff reaches its cap in far fewer), is no real limit.
#[derive(Debug, Clone)]
pub(super) struct Child {
    pub(super) id: ChildId,
    pub(super) restart_type: RestartType,
    pub(super) state: ChildState,
    pub(super) restarts: u32,
    pub(super) consecutive_restarts: u16,
    /// Removed: a tombstone, skipped by everything but the searches by id.
    pub(super) gone: bool,
}

// Kept at 32 bytes (see above); a field that grows it fails the build here.
const _: () = assert!(std::mem::size_of::<Child>() == 32);

impl Child {
    const fn new(id: ChildId, restart_type: RestartType) -> Self {
        Self {
            id,
            restart_type,
            state: ChildState::Idle,
            restarts: 0,
            consecutive_restarts: 0,
            gone: false,
        }
    }

    pub(super) const fn info(&self) -> ChildInfo {
        ChildInfo {
            id: self.id,
            restart_type: self.restart_type,
            state: self.state,
            // Widening, lossless (`From` is not `const`).
            restarts: self.restarts as u64,
            consecutive_restarts: self.consecutive_restarts as u32,
        }
    }

    /// Marks a running child stopped at `now`, forgetting its restart streak if it
    /// ran for at least `stable`.
    pub(super) fn transition_to_stopped(&mut self, now: Timestamp, stable: Duration) {
        if let ChildState::Running { since } = self.state
            && now.saturating_duration_since(since) >= stable
        {
            self.consecutive_restarts = 0;
        }
        self.state = ChildState::Idle;
    }
}

/// What a restart does to the affected children.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) stop: Vec<ChildId>,
    pub(super) remove: Vec<ChildId>,
    pub(super) restart: Vec<ChildId>,
}

/// The children, in start order (and so in id order). A deque: removing the oldest
/// child, the usual order of undeploys, costs O(1), as does adding one.
#[derive(Debug, Clone, Default)]
pub(super) struct Children {
    list: VecDeque<Child>,
    next_id: u64,
    /// Tombstones in `list`.
    gone: usize,
}

impl Children {
    pub(super) const fn new() -> Self {
        Self {
            list: VecDeque::new(),
            next_id: 0,
            gone: 0,
        }
    }

    pub(super) fn add(&mut self, restart_type: RestartType) -> ChildId {
        let id = ChildId::new(self.next_id);
        self.next_id += 1;
        self.list.push_back(Child::new(id, restart_type));
        id
    }

    /// The children (tombstones not counted).
    pub(super) fn len(&self) -> usize {
        self.list.len() - self.gone
    }

    /// The table's length, tombstones included: the bound of its positions.
    pub(super) fn slots(&self) -> usize {
        self.list.len()
    }

    /// Where child `id` is. The newest child is looked at first (the runtime reports
    /// the start of the child it just added). Then, as ids ascend without gaps until a
    /// child is removed from the middle, the place its distance from the oldest
    /// child's id gives: each instance of a deployment started in turn, and the
    /// oldest child, are found there in one probe. Then the place its distance from
    /// the newest child's id gives: the oldest of the children deployed after a
    /// long-lived one (undeployed in deploy order while that one stays first) is
    /// found there. Then the search gallops from the oldest.
    pub(super) fn position(&self, id: ChildId) -> Result<usize, EventError> {
        self.slot(id)
            .filter(|&at| !self.list[at].gone)
            .ok_or(EventError::UnknownChild(id))
    }

    /// Where the entry of `id` is, tombstone or not (see `position`).
    fn slot(&self, id: ChildId) -> Option<usize> {
        let last = self.list.len().checked_sub(1)?;
        if self.list[last].id == id {
            return Some(last);
        }
        let offset = id.get().checked_sub(self.list[0].id.get());
        if let Some(at) = offset.and_then(|offset| usize::try_from(offset).ok())
            && self.list.get(at).is_some_and(|child| child.id == id)
        {
            return Some(at);
        }
        let from_last = self.list[last].id.get().checked_sub(id.get());
        if let Some(at) = from_last
            .and_then(|back| usize::try_from(back).ok())
            .and_then(|back| last.checked_sub(back))
            && self.list[at].id == id
        {
            return Some(at);
        }
        crate::search::gallop(self.list.len(), |i| self.list[i].id.get(), id.get())
    }

    pub(super) fn get(&self, id: ChildId) -> Option<&Child> {
        self.position(id).ok().map(|index| &self.list[index])
    }

    pub(super) fn at(&mut self, index: usize) -> &mut Child {
        &mut self.list[index]
    }

    /// Removes the child at `index` (a position from `position`), and returns it: out
    /// of the table near an end, buried as a tombstone in the middle (see
    /// [`tombstones`](crate::tombstones)); the tombstones are swept once they
    /// outnumber the children.
    pub(super) fn remove_at(&mut self, index: usize) -> Child {
        let (taken, dropped) =
            crate::tombstones::remove(&mut self.list, index, |c| c.gone, |c| c.gone = true);
        self.gone -= dropped;
        if let Some(child) = taken {
            return child;
        }
        // Buried: what it was, for the caller, before the sweep may drop it.
        let child = Child {
            gone: false,
            ..self.list[index].clone()
        };
        self.gone += 1;
        if crate::tombstones::should_sweep(self.list.len(), self.gone) {
            self.sweep();
        }
        child
    }

    /// Drops every tombstone.
    fn sweep(&mut self) {
        self.list.retain(|c| !c.gone);
        self.gone = 0;
    }

    /// The children in start order, without the tombstones.
    pub(super) fn iter(&self) -> Live<'_> {
        Live {
            inner: self.list.iter(),
            left: self.len(),
        }
    }

    /// Every running child, in reverse start order, now marked idle.
    pub(super) fn stop_all(&mut self) -> Vec<ChildId> {
        let running = (self.list.iter_mut().rev()).filter(|c| !c.gone && c.state.is_running());
        running
            .map(|child| {
                child.state = ChildState::Idle;
                child.id
            })
            .collect()
    }

    /// Applies a restart to the children at `affected`: running ones are stopped,
    /// temporary ones removed, the others marked restarting.
    pub(super) fn transition_to_restarting(&mut self, affected: Range<usize>) -> Plan {
        let mut plan = Plan::default();
        for child in self.list.range_mut(affected).filter(|c| !c.gone) {
            if child.state.is_running() {
                plan.stop.push(child.id);
            }
            if child.restart_type == RestartType::Temporary {
                plan.remove.push(child.id);
            } else {
                child.state = ChildState::Restarting;
                child.restarts = child.restarts.saturating_add(1);
                plan.restart.push(child.id);
            }
        }
        plan.stop.reverse();
        // Most plans remove nothing (one-for-one never does: a temporary child that
        // stopped was removed before): no pass over every child for them. `remove`
        // was filled in list order, which is id order.
        if !plan.remove.is_empty() {
            // The tombstones go too.
            self.list
                .retain(|child| !child.gone && plan.remove.binary_search(&child.id).is_err());
            self.gone = 0;
        }
        plan
    }
}

/// The children in start order, skipping tombstones; knows how many are left.
#[derive(Debug, Clone)]
pub(super) struct Live<'a> {
    inner: std::collections::vec_deque::Iter<'a, Child>,
    left: usize,
}

impl<'a> Iterator for Live<'a> {
    type Item = &'a Child;

    fn next(&mut self) -> Option<&'a Child> {
        let child = self.inner.find(|c| !c.gone)?;
        self.left -= 1;
        Some(child)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Live<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The narrow counters saturate instead of overflowing, and widen in the snapshot.
    #[test]
    fn counters_saturate() {
        let mut children = Children::new();
        let id = children.add(RestartType::Permanent);
        let child = children.at(0);
        child.restarts = u32::MAX;
        child.consecutive_restarts = u16::MAX;
        let plan = children.transition_to_restarting(0..1);
        assert_eq!(plan.restart, [id]);
        let info = children.at(0).info();
        assert_eq!(info.restarts, u64::from(u32::MAX));
        assert_eq!(info.consecutive_restarts, u32::from(u16::MAX));
    }

    /// Every child is found where it is, and no removed one, whether the ids still run
    /// without gaps (found by their distance from the oldest) or not (by the search),
    /// with children removed from the middle (tombstones) and from both ends; the
    /// table never holds more than twice its children (plus the sweep's threshold).
    #[test]
    fn children_are_found_with_and_without_gaps_in_their_ids() {
        let mut children = Children::new();
        let ids: Vec<ChildId> = (0..200)
            .map(|_| children.add(RestartType::Permanent))
            .collect();
        let check = |children: &Children, present: &[ChildId]| {
            for &id in present {
                let at = children.position(id).expect("present");
                assert_eq!(children.list[at].id, id);
                assert!(!children.list[at].gone);
            }
            for id in ids.iter().filter(|id| !present.contains(id)) {
                assert_eq!(children.position(*id), Err(EventError::UnknownChild(*id)));
            }
            let beyond = ChildId::new(children.next_id + 3);
            assert_eq!(
                children.position(beyond),
                Err(EventError::UnknownChild(beyond))
            );
            let listed: Vec<ChildId> = children.iter().map(|c| c.id).collect();
            assert_eq!(listed, present);
            assert_eq!(children.iter().len(), present.len());
            assert_eq!(children.len(), present.len());
            assert!(children.slots() <= 2 * present.len() + crate::tombstones::NEAR + 1);
            assert!(children.list.front().is_none_or(|c| !c.gone));
            assert!(children.list.back().is_none_or(|c| !c.gone));
        };
        check(&children, &ids);
        // From the middle: each third child, then the two oldest.
        let mut present = ids.clone();
        for &id in ids.iter().skip(5).step_by(3) {
            let at = children.position(id).expect("present");
            assert_eq!(children.remove_at(at).id, id);
            present.retain(|&p| p != id);
            check(&children, &present);
        }
        for _ in 0..2 {
            let oldest = present.remove(0);
            let at = children.position(oldest).expect("present");
            assert_eq!(at, 0);
            assert_eq!(children.remove_at(at).id, oldest);
            check(&children, &present);
        }
        // Down to none, from the middle outwards.
        while !present.is_empty() {
            let id = present.remove(present.len() / 2);
            let at = children.position(id).expect("present");
            assert_eq!(children.remove_at(at).id, id);
            check(&children, &present);
        }
        assert_eq!(children.slots(), 0);
    }
}
