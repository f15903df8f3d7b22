//! The worker pools of the CPU-bound stages (ingress, decryption): each stage runs its loop on
//! a worker of its own rayon pool, so its per-item crypto spreads over every core while its
//! events are still handled one at a time.

/// A rayon pool of one worker per core, its threads named `{stage}-{i}` (per-stage CPU shows
/// in `/proc` by thread name).
pub fn stage_pool(stage: &'static str) -> std::io::Result<rayon::ThreadPool> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(move |i| format!("{stage}-{i}"))
        .build()
        .map_err(std::io::Error::other)
}
