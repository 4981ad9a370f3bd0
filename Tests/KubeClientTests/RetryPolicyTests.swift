import Foundation
import Testing
@testable import KubeClient

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 6, maxElapsed: .seconds(30), baseDelay: .milliseconds(100), maxDelay: .seconds(2))

    @Test func backoffCeilingDoublesUpToTheCap() {
        #expect(policy.ceiling(retry: 1) == .milliseconds(100))
        #expect(policy.ceiling(retry: 2) == .milliseconds(200))
        #expect(policy.ceiling(retry: 4) == .milliseconds(800))
        #expect(policy.ceiling(retry: 6) == .seconds(2))
        #expect(policy.ceiling(retry: 60) == .seconds(2))
    }

    @Test func fullJitterStaysWithinTheCeiling() {
        #expect(policy.delay(retry: 3, unit: 0) == .zero)
        #expect(policy.delay(retry: 3, unit: 1) == .milliseconds(400))
        #expect(policy.delay(retry: 3, unit: 0.5) == .milliseconds(200))
        for _ in 0..<200 {
            let d = policy.delay(retry: 4)
            #expect(d >= .zero && d <= .milliseconds(800))
        }
    }

    @Test func retryAfterIsHonouredAsAFloor() {
        #expect(policy.delay(retry: 1, retryAfter: .seconds(3), unit: 1) == .seconds(3))
        #expect(RetryPolicy.parseRetryAfter("2") == .seconds(2))
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let f = DateFormatter(); f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        #expect(RetryPolicy.parseRetryAfter(f.string(from: now.addingTimeInterval(5)), now: now) == .seconds(5))
    }

    @Test func onlyThrottlingAndServerErrorsAreRetried() {
        for code in [429, 500, 502, 503, 504] { #expect(RetryPolicy.isRetryable(status: code)) }
        for code in [200, 400, 401, 403, 404, 409, 422, 501] { #expect(!RetryPolicy.isRetryable(status: code)) }
    }
}

@Suite struct StatusErrorTests {
    @Test func applyConflictNamesManagersAndFields() throws {
        let body = #"""
        {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409,
         "message":"Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas\nconflicts with \"helm\" using apps/v1:\n- .spec.template.spec.containers[name=\"app\"].image",
         "details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-edit\" using apps/v1","field":".spec.replicas"},
                              {"reason":"FieldManagerConflict","message":"conflict with \"helm\" using apps/v1","field":".spec.template.spec.containers[name=\"app\"].image"}]}}
        """#
        let error = KubeError.from(APIResponse(status: 409, headers: [], body: Data(body.utf8)),
                                   site: ErrorSite(context: "prod", object: "apps/v1 Deployment ns/app", operation: "apply"))
        guard case .conflict(_, let managers, let fields, _) = error else { Issue.record("expected conflict, got \(error)"); return }
        #expect(managers == ["kubectl-edit", "helm"])
        #expect(fields == [".spec.replicas", ".spec.template.spec.containers[name=\"app\"].image"])
        #expect(error.description.contains("prod") && error.description.contains(".spec.replicas"))
    }

    @Test func statusReasonsMapToTypedErrors() {
        func map(_ code: Int, _ reason: String) -> KubeError {
            KubeError.from(APIResponse(status: code, headers: [], body: Data(#"{"kind":"Status","reason":"\#(reason)","message":"m","details":{"causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.x"}]}}"#.utf8)),
                           site: ErrorSite(context: "c"))
        }
        if case .notFound = map(404, "NotFound") {} else { Issue.record("404") }
        if case .alreadyExists = map(409, "AlreadyExists") {} else { Issue.record("409 exists") }
        if case .invalid(_, let causes, _) = map(422, "Invalid") { #expect(causes.first?.field == "spec.x") } else { Issue.record("422") }
        if case .unauthorized = map(401, "Unauthorized") {} else { Issue.record("401") }
        if case .forbidden = map(403, "Forbidden") {} else { Issue.record("403") }
        if case .server(_, 500, _, _, _) = map(500, "InternalError") {} else { Issue.record("500") }
    }
}
