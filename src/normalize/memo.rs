//! Per-thread memos of pure functions over values that repeat record after record.
//!
//! The records of one page come from one journal, mostly from one or two issues: their
//! `dc:source` citation, `dc:type`s and licence text are the same strings again and again,
//! and parsing a citation costs more than the rest of a short field together. A memo
//! returns what the function returned for the same string before; it changes no output,
//! so `normalize` stays a pure function of its input.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Distinct values each memo keeps: a page's issues in each of their locales, types or
/// licences. A cycle of more keys than this would miss every time.
const SLOTS: usize = 32;
/// Longer values are computed each time: they seldom repeat, and keys stay small.
const MAX_KEY: usize = 256;

/// The last [`SLOTS`] distinct keys and their values; the oldest entry is replaced.
pub(super) struct Memo<V> {
    slots: Vec<(Box<str>, V)>,
    next: usize,
}

impl<V: Clone> Memo<V> {
    pub(super) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            next: 0,
        }
    }

    fn find(&self, key: &str) -> Option<V> {
        self.slots
            .iter()
            .find(|(k, _)| **k == *key)
            .map(|(_, v)| v.clone())
    }

    fn insert(&mut self, key: &str, value: V) {
        let entry = (Box::from(key), value);
        if self.slots.len() < SLOTS {
            self.slots.push(entry);
        } else if let Some(slot) = self.slots.get_mut(self.next) {
            *slot = entry;
            self.next = (self.next + 1) % SLOTS;
        }
    }
}

/// `compute(key)`, from `memo` when this thread computed it for the same key lately.
/// `compute` runs outside the memo's borrow, so it may use memos itself.
pub(super) fn memoized<V: Clone + 'static>(
    memo: &'static LocalKey<RefCell<Memo<V>>>,
    key: &str,
    compute: impl FnOnce(&str) -> V,
) -> V {
    if key.len() > MAX_KEY {
        return compute(key);
    }
    if let Some(v) = memo.with_borrow(|m| m.find(key)) {
        return v;
    }
    let v = compute(key);
    memo.with_borrow_mut(|m| m.insert(key, v.clone()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    thread_local! {
        static LENGTHS: RefCell<Memo<usize>> = const { RefCell::new(Memo::new()) };
        static CALLS: Cell<usize> = const { Cell::new(0) };
    }

    fn counted_len(s: &str) -> usize {
        CALLS.set(CALLS.get() + 1);
        s.chars().count()
    }

    #[test]
    fn a_repeated_key_is_computed_once_until_evicted() {
        CALLS.set(0);
        assert_eq!(memoized(&LENGTHS, "Проблемы", counted_len), 8);
        assert_eq!(memoized(&LENGTHS, "Проблемы", counted_len), 8);
        assert_eq!(CALLS.get(), 1);
        // SLOTS other keys push it out; then it is computed again.
        for i in 0..SLOTS {
            memoized(&LENGTHS, &format!("key {i}"), counted_len);
        }
        assert_eq!(CALLS.get(), 1 + SLOTS);
        assert_eq!(memoized(&LENGTHS, "Проблемы", counted_len), 8);
        assert_eq!(CALLS.get(), 2 + SLOTS);
    }

    #[test]
    fn long_keys_are_not_kept() {
        let long = "x".repeat(MAX_KEY + 1);
        CALLS.set(0);
        memoized(&LENGTHS, &long, counted_len);
        memoized(&LENGTHS, &long, counted_len);
        assert_eq!(CALLS.get(), 2);
        assert!(LENGTHS.with_borrow(|m| m.find(&long).is_none()));
    }

    proptest! {
        /// Whatever the sequence of keys (few distinct ones, so entries are hit, kept and
        /// evicted), the memo gives what the function gives.
        #[test]
        fn memoized_equals_computed(keys in proptest::collection::vec("[aбc]{0,3}", 0..60)) {
            for k in &keys {
                prop_assert_eq!(memoized(&LENGTHS, k, counted_len), k.chars().count());
            }
        }
    }
}
