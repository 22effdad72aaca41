//! Spreading independent CPU-bound work (key generation, signing) over the machine's cores,
//! results in input order. It must not do I/O itself or decide what a failure means: the
//! caller says what a panicked worker's items become.

/// `f` over `items`, split into one contiguous part per core (this thread takes the first),
/// results in the order of `items`. Every item of a part whose thread panicked gets
/// `on_panic()`.
pub fn map_ordered<T, R>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    on_panic: impl Fn() -> R,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(1)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let mut parts = items.chunks(chunk);
        let mine = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts
            .map(|part| {
                (
                    part.len(),
                    scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()),
                )
            })
            .collect();
        let mut out: Vec<R> = mine.iter().map(f).collect();
        for (len, handle) in handles {
            match handle.join() {
                Ok(part) => out.extend(part),
                Err(_) => out.extend((0..len).map(|_| on_panic())),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u32> = (0..101).collect();
        let out = map_ordered(&items, |i| i * 2, || u32::MAX);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(map_ordered(&[] as &[u32], |i| *i, || 0).is_empty());
    }
}
