import Foundation

/// A label selector in Kubernetes' text form, as `kubectl -l` and `?labelSelector=` take it: equality (`app=sleep`,
/// `app==sleep`, `tier!=db`), existence (`app`, `!legacy`) and sets (`env in (a,b)`, `env notin (c)`), joined by commas
/// (k8s.io/apimachinery/pkg/labels/selector.go). The empty text selects everything. The one parser for the engine,
/// the mesh file and KubeSim.
public struct LabelSelector: Hashable, Sendable {
    public enum Requirement: Hashable, Sendable {
        case equals(String, String), notEquals(String, String), exists(String), absent(String)
        case isIn(String, Set<String>), notIn(String, Set<String>)

        var key: String {
            switch self {
            case .equals(let k, _), .notEquals(let k, _), .exists(let k), .absent(let k), .isIn(let k, _), .notIn(let k, _): return k
            }
        }
    }

    public let requirements: [Requirement]

    /// Nil when a requirement has an empty key or a key with a space in it.
    public init?(_ text: String) {
        var parts: [String] = [], depth = 0, current = ""
        for ch in text {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 { parts.append(current); current = "" } else { current.append(ch) }
        }
        parts.append(current)
        var reqs: [Requirement] = []
        for raw in parts {
            let p = raw.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            if let r = p.range(of: " notin ") ?? p.range(of: " in ") {
                let key = p[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                let values = Set(p[r.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: " ()"))
                    .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                reqs.append(p.contains(" notin ") ? .notIn(key, values) : .isIn(key, values))
            } else if let r = p.range(of: "!=") {
                reqs.append(.notEquals(String(p[..<r.lowerBound]), String(p[r.upperBound...])))
            } else if let r = p.range(of: "==") ?? p.range(of: "=") {
                reqs.append(.equals(String(p[..<r.lowerBound]), String(p[r.upperBound...])))
            } else if p.hasPrefix("!") {
                reqs.append(.absent(String(p.dropFirst())))
            } else {
                reqs.append(.exists(p))
            }
        }
        guard reqs.allSatisfy({ !$0.key.isEmpty && !$0.key.contains(" ") }) else { return nil }
        requirements = reqs
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy {
            switch $0 {
            case .equals(let k, let v): return labels[k] == v
            case .notEquals(let k, let v): return labels[k] != v
            case .exists(let k): return labels[k] != nil
            case .absent(let k): return labels[k] == nil
            case .isIn(let k, let vs): return labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): return !(labels[k].map(vs.contains) ?? false)
            }
        }
    }
}
