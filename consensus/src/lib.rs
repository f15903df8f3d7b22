//! `shroud-consensus`: 2-chain HotStuff (Jolteon family) as a sans-IO state machine that orders
//! batch digests and releases decryption shares only after commit. Built in issue #3.
