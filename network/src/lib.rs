//! `shroud-network`: QUIC transport between validators and from clients, with validated rkyv
//! frames, versions and limits. Built in issue #4.
