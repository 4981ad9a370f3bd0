import KubeClient

/// Runs `body` with `client` and shuts the client down afterwards, whether `body` returns or throws: cleanup the
/// test awaits, not a task left running after it (the one shape every test harness's `with...` follows).
public func withShutdown<T>(_ client: KubeClient, _ body: (KubeClient) async throws -> T) async throws -> T {
    let result: T
    do { result = try await body(client) } catch { try? await client.shutdown(); throw error }
    try await client.shutdown()
    return result
}

/// Runs `body`, then `cleanup`, whether `body` returns or throws; `cleanup` is awaited before this returns.
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do { result = try await body() } catch { await cleanup(); throw error }
    await cleanup()
    return result
}
