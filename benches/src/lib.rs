//! `shroud-benches`: Criterion micro-benchmarks (under `benches/`) and the cluster load
//! generator ([`loadgen`], the `shroud-bench` binary).

pub mod loadgen;
