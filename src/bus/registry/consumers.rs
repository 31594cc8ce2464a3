//! The consumers of one address: a persistent vector, a trie of nodes 32 wide.
//!
//! Senders keep a copy of an address's slot in a per-thread cache and read it without a
//! lock, so a list must never change under a copy: every change makes a new version.
//! A flat list copied whole on each change made the n-th consumer of one address cost n
//! reference counts, and so n consumers n²/2 (20,000 of them took 4 s to deploy). Here a
//! copy is one reference count, and a change copies one path: the leaf it touches (at
//! most 32 entries) and the nodes above it (a million consumers take three levels), each
//! of those changed in place instead where no other version shares it.
//!
//! Up to 32 consumers (nearly every address) the list is a single leaf, one allocation
//! read with one indirection, as the flat list was.

use std::sync::Arc;

const BITS: u32 = 5;
const WIDTH: usize = 1 << BITS;
const MASK: usize = WIDTH - 1;

/// A list of `T`, cheap to copy, changed at its end (and by moving its last entry into
/// a removed one's place).
pub(crate) struct Consumers<T> {
    root: Node<T>,
    len: usize,
    /// `BITS` times the depth of the trie: 0 while the root is a leaf.
    shift: u32,
}

enum Node<T> {
    /// At most `WIDTH` entries; replaced, not changed, on a change.
    Leaf(Arc<[T]>),
    /// At most `WIDTH` children, all full but the last.
    Branch(Arc<Vec<Node<T>>>),
}

impl<T> Clone for Node<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Leaf(entries) => Self::Leaf(entries.clone()),
            Self::Branch(children) => Self::Branch(children.clone()),
        }
    }
}

impl<T> Clone for Consumers<T> {
    fn clone(&self) -> Self {
        Self {
            root: self.root.clone(),
            len: self.len,
            shift: self.shift,
        }
    }
}

impl<T> Default for Consumers<T> {
    fn default() -> Self {
        Self {
            root: Node::Leaf(Arc::from([])),
            len: 0,
            shift: 0,
        }
    }
}

impl<T> Consumers<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let (mut node, mut shift) = (&self.root, self.shift);
        loop {
            match node {
                Node::Leaf(entries) => return entries.get(index & MASK),
                Node::Branch(children) => {
                    node = children.get((index >> shift) & MASK)?;
                    shift = shift.checked_sub(BITS)?;
                }
            }
        }
    }

    /// Every entry, while the list is one leaf (at most 32 entries: nearly every
    /// address's); a longer list is read with [`leaves`](Self::leaves).
    #[inline]
    pub(crate) fn as_slice(&self) -> Option<&[T]> {
        match &self.root {
            Node::Leaf(entries) => Some(entries),
            Node::Branch(_) => None,
        }
    }

    /// Every entry, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.leaves().flatten()
    }

    /// The entries, in order, a leaf (a slice of at most 32) at a time: a loop over each
    /// slice is as tight as over a flat list.
    pub(crate) fn leaves(&self) -> Leaves<'_, T> {
        match &self.root {
            Node::Leaf(entries) => Leaves {
                root: Some(entries),
                above: Vec::new(),
            },
            Node::Branch(children) => Leaves {
                root: None,
                above: vec![children.iter()],
            },
        }
    }
}

impl<T: Clone> Consumers<T> {
    /// Adds `value` at the end.
    pub(crate) fn push(&mut self, value: T) {
        // Full at this depth (32 entries per leaf, 32 children per branch): one more
        // level, with the whole trie as its first child.
        if self.len == WIDTH << self.shift {
            let full = std::mem::take(&mut self.root);
            self.root = Node::Branch(Arc::new(vec![full]));
            self.shift += BITS;
        }
        push_into(&mut self.root, self.shift, self.len, value);
        self.len += 1;
    }

    /// Takes the last entry off.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let index = self.len.checked_sub(1)?;
        let value = pop_from(&mut self.root, self.shift, index);
        self.len = index;
        // A root left with one child is a level too many.
        while let Node::Branch(children) = &self.root
            && children.len() == 1
            && self.shift > 0
        {
            self.root = children[0].clone();
            self.shift -= BITS;
        }
        Some(value)
    }

    /// Removes the entry at `index`, moving the last one into its place; the removed
    /// entry.
    pub(crate) fn swap_remove(&mut self, index: usize) -> Option<T> {
        let removed = self.get(index)?.clone();
        let last = self.pop()?;
        if index < self.len {
            set_in(&mut self.root, self.shift, index, last);
        }
        Some(removed)
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self::Leaf(Arc::from([]))
    }
}

/// A new path down to a leaf holding `value`, `shift` above the leaves.
fn path<T>(shift: u32, value: T) -> Node<T> {
    match shift.checked_sub(BITS) {
        None => Node::Leaf(Arc::from([value])),
        Some(below) => Node::Branch(Arc::new(vec![path(below, value)])),
    }
}

fn push_into<T: Clone>(node: &mut Node<T>, shift: u32, index: usize, value: T) {
    match node {
        Node::Leaf(entries) => {
            *entries = entries.iter().cloned().chain([value]).collect();
        }
        Node::Branch(children) => {
            let children = Arc::make_mut(children);
            let at = (index >> shift) & MASK;
            let below = shift - BITS;
            match children.get_mut(at) {
                Some(child) => push_into(child, below, index, value),
                None => children.push(path(below, value)),
            }
        }
    }
}

fn pop_from<T: Clone>(node: &mut Node<T>, shift: u32, index: usize) -> T {
    match node {
        Node::Leaf(entries) => {
            let (last, rest) = entries
                .split_last()
                .expect("a leaf on the path to an entry holds it");
            let last = last.clone();
            *entries = Arc::from(rest);
            last
        }
        Node::Branch(children) => {
            let children = Arc::make_mut(children);
            let at = (index >> shift) & MASK;
            let value = pop_from(&mut children[at], shift - BITS, index);
            let emptied = match &children[at] {
                Node::Leaf(entries) => entries.is_empty(),
                Node::Branch(grandchildren) => grandchildren.is_empty(),
            };
            if emptied {
                children.pop();
            }
            value
        }
    }
}

fn set_in<T: Clone>(node: &mut Node<T>, shift: u32, index: usize, value: T) {
    match node {
        Node::Leaf(entries) => {
            let mut changed = entries.to_vec();
            changed[index & MASK] = value;
            *entries = changed.into();
        }
        Node::Branch(children) => {
            let children = Arc::make_mut(children);
            set_in(
                &mut children[(index >> shift) & MASK],
                shift - BITS,
                index,
                value,
            );
        }
    }
}

/// The leaves of a [`Consumers`], in order.
pub(crate) struct Leaves<'a, T> {
    /// The root, while it is a leaf not yet given (a small list allocates nothing).
    root: Option<&'a Arc<[T]>>,
    /// The branches above the next leaf, innermost last.
    above: Vec<std::slice::Iter<'a, Node<T>>>,
}

impl<'a, T> Iterator for Leaves<'a, T> {
    type Item = &'a [T];

    #[inline]
    fn next(&mut self) -> Option<&'a [T]> {
        if let Some(root) = self.root.take() {
            return Some(root);
        }
        loop {
            let branch = self.above.last_mut()?;
            match branch.next() {
                None => {
                    self.above.pop();
                }
                Some(Node::Leaf(entries)) => return Some(entries),
                Some(Node::Branch(children)) => self.above.push(children.iter()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(list: &Consumers<u32>) -> Vec<u32> {
        list.iter().copied().collect()
    }

    #[test]
    fn it_grows_and_shrinks_through_levels_in_order() {
        let mut list = Consumers::default();
        let n = (WIDTH * WIDTH * 2 + 7) as u32;
        for i in 0..n {
            list.push(i);
            assert_eq!(list.len(), i as usize + 1);
        }
        assert_eq!(all(&list), (0..n).collect::<Vec<_>>());
        assert_eq!(list.shift, 2 * BITS);
        for i in [0, 31, 32, 1023, 1024, n - 1] {
            assert_eq!(list.get(i as usize), Some(&i));
        }
        assert_eq!(list.get(n as usize), None);
        for i in (0..n).rev() {
            assert_eq!(list.pop(), Some(i));
        }
        assert_eq!(list.pop(), None);
        assert!(list.is_empty());
        assert_eq!(list.shift, 0);
    }

    #[test]
    fn a_copy_is_not_changed_by_changes_to_the_original() {
        let mut list = Consumers::default();
        for i in 0..100 {
            list.push(i);
        }
        let copy = list.clone();
        list.push(100);
        assert_eq!(list.swap_remove(3), Some(3));
        assert_eq!(list.pop(), Some(99));
        assert_eq!(all(&copy), (0..100).collect::<Vec<_>>());
        let mut expected: Vec<u32> = (0..101).collect();
        expected.swap_remove(3);
        expected.pop();
        assert_eq!(all(&list), expected);
    }

    #[test]
    fn swap_remove_moves_the_last_entry_into_the_place() {
        let mut list = Consumers::default();
        let mut model = Vec::new();
        for i in 0..2_000 {
            list.push(i);
            model.push(i);
        }
        // A removal pattern touching every level: front, middle, end, repeatedly.
        let mut at = 0usize;
        while !model.is_empty() {
            at = (at * 7 + 13) % model.len();
            assert_eq!(list.swap_remove(at), Some(model.swap_remove(at)));
            assert_eq!(list.len(), model.len());
            if model.len() % 97 == 0 {
                assert_eq!(all(&list), model);
            }
        }
        assert_eq!(list.swap_remove(0), None);
        assert_eq!(list.shift, 0);
    }
}
