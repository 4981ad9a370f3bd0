/// Runs `work` on every element, at most `width` at a time, and hands each result to `body` as it finishes (in the
/// order they finish). What `body` does not keep is dropped, so reading a fleet this way holds `width` clusters'
/// answers at once, not the fleet's; and a thousand clusters are not a thousand connections at once.
/// (Results are named structs at the call sites, not tuples: Swift 6.3 release builds crashed copying tuple results.)
func forEachConcurrently<Element: Sendable, Result: Sendable>(
    _ elements: some Sequence<Element>, width: Int,
    _ work: @escaping @Sendable (Element) async -> Result, then body: (Result) -> Void
) async {
    await withTaskGroup(of: Result.self) { group in
        var next = elements.makeIterator()
        func startNext() { if let e = next.next() { group.addTask { await work(e) } } }
        for _ in 0..<max(1, width) { startNext() }
        for await r in group {
            body(r)
            startNext()
        }
    }
}
