//! `shroud-storage`: the sled-backed store behind a small trait, plus an in-memory store for
//! simulation. Built in issue #3.
