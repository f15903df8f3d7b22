//! `shroud-node`: the `shroud` validator binary: configuration, wiring, mempool, decryption
//! stage, APIs, metrics and CLI. Built in issues #4 and #5.
