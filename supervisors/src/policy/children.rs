//! The child table: every child the policy knows, in start order.
//!
//! Invariants: `list` is sorted by id, ids are unique and never reused (`next_id`
//! only grows), so start order is id order and lookups search by id (see `position`).

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
}

impl Children {
    pub(super) const fn new() -> Self {
        Self {
            list: VecDeque::new(),
            next_id: 0,
        }
    }

    pub(super) fn add(&mut self, restart_type: RestartType) -> ChildId {
        let id = ChildId::new(self.next_id);
        self.next_id += 1;
        self.list.push_back(Child::new(id, restart_type));
        id
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// Where child `id` is. The newest child is looked at first (the runtime reports
    /// the start of the child it just added). Then, as ids ascend without gaps until a
    /// child is removed from the middle, the place its distance from the oldest
    /// child's id gives: each instance of a deployment started in turn, and the
    /// oldest child, are found there in one probe. Then the search gallops from the
    /// oldest (undeploys most often take the oldest children).
    pub(super) fn position(&self, id: ChildId) -> Result<usize, EventError> {
        let last = self.list.len().checked_sub(1);
        match last {
            Some(last) if self.list[last].id == id => return Ok(last),
            None => return Err(EventError::UnknownChild(id)),
            Some(_) => {}
        }
        let offset = id.get().checked_sub(self.list[0].id.get());
        if let Some(at) = offset.and_then(|offset| usize::try_from(offset).ok())
            && self.list.get(at).is_some_and(|child| child.id == id)
        {
            return Ok(at);
        }
        crate::search::gallop(self.list.len(), |i| self.list[i].id.get(), id.get())
            .ok_or(EventError::UnknownChild(id))
    }

    pub(super) fn get(&self, id: ChildId) -> Option<&Child> {
        self.position(id).ok().map(|index| &self.list[index])
    }

    pub(super) fn at(&mut self, index: usize) -> &mut Child {
        &mut self.list[index]
    }

    pub(super) fn remove_at(&mut self, index: usize) -> Child {
        self.list
            .remove(index)
            .expect("an index from `position`, within bounds")
    }

    pub(super) fn iter(&self) -> std::collections::vec_deque::Iter<'_, Child> {
        self.list.iter()
    }

    /// Every running child, in reverse start order, now marked idle.
    pub(super) fn stop_all(&mut self) -> Vec<ChildId> {
        let running = self.list.iter_mut().rev().filter(|c| c.state.is_running());
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
        for child in self.list.range_mut(affected) {
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
            self.list
                .retain(|child| plan.remove.binary_search(&child.id).is_err());
        }
        plan
    }
}

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
    /// with the oldest children gone too.
    #[test]
    fn children_are_found_with_and_without_gaps_in_their_ids() {
        let mut children = Children::new();
        let ids: Vec<ChildId> = (0..64)
            .map(|_| children.add(RestartType::Permanent))
            .collect();
        let check = |children: &Children, present: &[ChildId]| {
            for (at, &id) in present.iter().enumerate() {
                assert_eq!(children.position(id), Ok(at), "{id:?}");
            }
            for id in ids.iter().filter(|id| !present.contains(id)) {
                assert_eq!(children.position(*id), Err(EventError::UnknownChild(*id)));
            }
            let beyond = ChildId::new(children.next_id + 3);
            assert_eq!(
                children.position(beyond),
                Err(EventError::UnknownChild(beyond))
            );
        };
        check(&children, &ids);
        // Gaps: each third child goes from the middle, then the two oldest.
        let mut present = ids.clone();
        for &id in ids.iter().skip(5).step_by(3) {
            let at = children.position(id).expect("present");
            children.remove_at(at);
            present.retain(|&p| p != id);
            check(&children, &present);
        }
        for _ in 0..2 {
            let oldest = present.remove(0);
            let at = children.position(oldest).expect("present");
            assert_eq!(at, 0);
            children.remove_at(at);
            check(&children, &present);
        }
        // Down to none.
        while let Some(newest) = present.pop() {
            let at = children.position(newest).expect("present");
            children.remove_at(at);
            check(&children, &present);
        }
    }
}
