//! The iterators behind the set relations of [`HashSetRef`] and
//! [`WordSet`]: one generic implementation of each, which the names users
//! see ([`SetDifference`](crate::SetDifference),
//! [`WordSetUnion`](crate::WordSetUnion), ...) are type aliases of.
//!
//! Each walks one set with its ordinary iterator and asks the other set
//! whether it holds each element, once, when the walk reaches it: weakly
//! consistent under concurrent writes, exact when none is in flight (see
//! the relations on [`HashSetRef`] and [`WordSet`]). Name these types
//! through the aliases; the parameters here are the walk's iterator and
//! the probed set.
//!
//! ```
//! let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
//! let b: lfmap::WordSet<u8> = [2].into_iter().collect();
//! let only_a: lfmap::relations::Difference<_, _> = a.difference(&b);
//! assert_eq!(only_a.collect::<Vec<_>>(), [1]);
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

use super::{HashSetRef, WordSet};
use crate::reclaim::ReclaimGuard;
use crate::word::WordSized;

pub(crate) use self::probe::Probe;
pub(crate) use self::rest::Rest;

mod rest {
    /// A walk that can show what it has left without moving on: for the
    /// relations' `Debug`, which prints the elements still to come, as
    /// std's set iterators print (sealed, as `Probe`).
    pub trait Rest: Iterator {
        /// The items this iterator would yield from here (other threads
        /// may write meanwhile, so a later `next` may yield otherwise).
        fn rest(&self) -> impl Iterator<Item = Self::Item> + '_;
    }
}

mod probe {
    /// A set the relations look elements up in: `&HashSetRef` or
    /// `&WordSet` (sealed: the module is private, so only this crate can
    /// name or implement it).
    pub trait Probe {
        /// The set's element type.
        type Elem;

        /// Whether the set holds `x` now (its `contains`).
        fn has(&self, x: &Self::Elem) -> bool;
    }
}

impl<T, S, G> Probe for &HashSetRef<'_, T, S, G>
where
    T: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Elem = T;

    #[inline]
    fn has(&self, x: &T) -> bool {
        self.contains(x)
    }
}

impl<T: WordSized, S: BuildHasher> Probe for &WordSet<T, S> {
    type Elem = T;

    #[inline]
    fn has(&self, x: &T) -> bool {
        self.contains(x)
    }
}

/// Whether every element `walk` yields is in `other` (`is_subset`).
pub(crate) fn all_in<I, P>(walk: I, other: P) -> bool
where
    I: Iterator,
    I::Item: Borrow<P::Elem>,
    P: Probe,
{
    Difference::new(walk, other).next().is_none()
}

/// Whether no element `walk` yields is in `other` (`is_disjoint`).
pub(crate) fn none_in<I, P>(walk: I, other: P) -> bool
where
    I: Iterator,
    I::Item: Borrow<P::Elem>,
    P: Probe,
{
    Intersection::new(walk, other).next().is_none()
}

/// Defines a walk of one set filtered by membership in another (its docs
/// given as attributes): `Difference` keeps what the other set lacks
/// (`$held` false), `Intersection` what it holds (`$held` true).
macro_rules! filtered {
    ($(#[$doc:meta])* $name:ident, $held:literal) => {
        $(#[$doc])*
        // Clone: what is left, from the same place (where the walk can be
        // cloned: a `HashSetRef`'s, as std's set iterators).
        #[derive(Clone)]
        pub struct $name<I, P> {
            iter: I,
            other: P,
        }

        impl<I, P> $name<I, P> {
            pub(crate) fn new(iter: I, other: P) -> Self {
                $name { iter, other }
            }
        }

        impl<I, P> Rest for $name<I, P>
        where
            I: Rest,
            I::Item: Borrow<P::Elem>,
            P: Probe,
        {
            fn rest(&self) -> impl Iterator<Item = I::Item> + '_ {
                let other = &self.other;
                self.iter.rest().filter(move |x| other.has(x.borrow()) == $held)
            }
        }

        /// The elements left to yield, as std's set iterators print (each
        /// looked up in the other set as it is printed).
        impl<I, P> fmt::Debug for $name<I, P>
        where
            I: Rest,
            I::Item: Borrow<P::Elem> + fmt::Debug,
            P: Probe,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.rest()).finish()
            }
        }

        impl<I, P> Iterator for $name<I, P>
        where
            I: Iterator,
            I::Item: Borrow<P::Elem>,
            P: Probe,
        {
            type Item = I::Item;

            #[inline]
            fn next(&mut self) -> Option<I::Item> {
                let other = &self.other;
                self.iter.find(|x| other.has(x.borrow()) == $held)
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                (0, self.iter.size_hint().1)
            }
        }

        impl<I, P> FusedIterator for $name<I, P>
        where
            I: FusedIterator,
            I::Item: Borrow<P::Elem>,
            P: Probe,
        {
        }
    };
}

filtered! {
    /// The elements a walk of one set yields that another set does not hold,
    /// from `difference` ([`HashSetRef::difference`],
    /// [`WordSet::difference`]); named through
    /// [`SetDifference`](crate::SetDifference) and
    /// [`WordSetDifference`](crate::WordSetDifference). `I` is the walk, `P`
    /// the probed set. Weakly consistent (see the set relations); fused.
    Difference, false
}

filtered! {
    /// The elements a walk of one set yields that another set also holds (the
    /// walked set's), from `intersection` ([`HashSetRef::intersection`],
    /// [`WordSet::intersection`]); named through
    /// [`SetIntersection`](crate::SetIntersection) and
    /// [`WordSetIntersection`](crate::WordSetIntersection). `I` is the walk,
    /// `P` the probed set. Weakly consistent (see the set relations); fused.
    Intersection, true
}

/// Two walks one after the other: `first`, then `rest` (each fused).
/// The logic of [`Union`] and [`SymmetricDifference`], which differ only
/// in what they chain.
#[derive(Clone)]
struct Chain<A, B> {
    first: A,
    rest: B,
}

impl<A, B> Iterator for Chain<A, B>
where
    A: Iterator,
    B: Iterator<Item = A::Item>,
{
    type Item = A::Item;

    #[inline]
    fn next(&mut self) -> Option<A::Item> {
        self.first.next().or_else(|| self.rest.next())
    }

    /// No lower bound (a walk promises none); the upper bound is the sum
    /// of the two walks' upper bounds.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let (first, rest) = (self.first.size_hint().1, self.rest.size_hint().1);
        (0, first.zip(rest).and_then(|(a, b)| a.checked_add(b)))
    }
}

/// Defines an iterator that is [`Chain`] of two walks under a name of its
/// own (its docs given as attributes): `Union` and `SymmetricDifference`.
macro_rules! chained {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        // Clone: as the filtered walks' (where both walks can be cloned).
        #[derive(Clone)]
        pub struct $name<A, B> {
            walks: Chain<A, B>,
        }

        impl<A, B> $name<A, B> {
            pub(crate) fn new(first: A, rest: B) -> Self {
                $name {
                    walks: Chain { first, rest },
                }
            }
        }

        /// The elements left to yield, as std's set iterators print.
        impl<A, B> fmt::Debug for $name<A, B>
        where
            A: Rest,
            A::Item: fmt::Debug,
            B: Rest<Item = A::Item>,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(self.walks.first.rest())
                    .entries(self.walks.rest.rest())
                    .finish()
            }
        }

        impl<A, B> Iterator for $name<A, B>
        where
            A: Iterator,
            B: Iterator<Item = A::Item>,
        {
            type Item = A::Item;

            #[inline]
            fn next(&mut self) -> Option<A::Item> {
                self.walks.next()
            }

            fn size_hint(&self) -> (usize, Option<usize>) {
                self.walks.size_hint()
            }
        }

        impl<A, B> FusedIterator for $name<A, B>
        where
            A: FusedIterator,
            B: FusedIterator<Item = A::Item>,
        {
        }
    };
}

chained! {
    /// The elements of either of two sets, from `union`
    /// ([`HashSetRef::union`], [`WordSet::union`]): a walk of the first set,
    /// then the elements of the second that are not in the first (a
    /// [`Difference`]). Named through
    /// [`SetUnion`](crate::SetUnion) and [`WordSetUnion`](crate::WordSetUnion).
    /// Each element once when no write is in flight; under concurrent writes
    /// an element can come once from each walk (see
    /// [`HashSetRef::union`]). Fused.
    Union
}

chained! {
    /// The elements in exactly one of two sets, from `symmetric_difference`
    /// ([`HashSetRef::symmetric_difference`],
    /// [`WordSet::symmetric_difference`]): the elements of the first set
    /// that are not in the second, then those of the second that are not
    /// in the first (two [`Difference`]s). Named through
    /// [`SetSymmetricDifference`](crate::SetSymmetricDifference) and
    /// [`WordSetSymmetricDifference`](crate::WordSetSymmetricDifference). Each
    /// element once when no write is in flight; under concurrent writes an
    /// element that moves between the sets can come once from each walk.
    /// Fused.
    SymmetricDifference
}
