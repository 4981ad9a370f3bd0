import KubeModel

/// An equality-based label selector as `kubectl -l` takes it: `version=v1`, `app==sleep,tier!=db`, `app`, `!legacy`.
public struct LabelSelector: Hashable, Sendable {
    enum Requirement: Hashable, Sendable { case equals(String, String), notEquals(String, String), exists(String), absent(String) }
    let requirements: [Requirement]

    public init?(_ text: String) {
        var reqs: [Requirement] = []
        for raw in text.split(separator: ",") {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if let r = part.range(of: "!=") {
                reqs.append(.notEquals(String(part[..<r.lowerBound]), String(part[r.upperBound...])))
            } else if let r = part.range(of: "==") ?? part.range(of: "=") {
                reqs.append(.equals(String(part[..<r.lowerBound]), String(part[r.upperBound...])))
            } else if part.hasPrefix("!") {
                reqs.append(.absent(String(part.dropFirst())))
            } else {
                reqs.append(.exists(part))
            }
        }
        let keys = reqs.map { r -> String in
            switch r { case .equals(let k, _), .notEquals(let k, _), .exists(let k), .absent(let k): return k }
        }
        guard !reqs.isEmpty, keys.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else { return nil }
        requirements = reqs
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy {
            switch $0 {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .exists(let k): return labels[k] != nil
            case .absent(let k): return labels[k] == nil
            }
        }
    }
}
