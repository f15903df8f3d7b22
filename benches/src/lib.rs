//! `shroud-benches`: Criterion micro-benchmarks (under `benches/`) and, with issue #7, the
//! cluster load generator.
