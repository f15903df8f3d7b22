//! `shroud-sdk`: the client library for wallets and rollups: fetch and verify the epoch key,
//! encrypt, submit, follow receipts, read and verify namespace outputs. Built in issue #6.
