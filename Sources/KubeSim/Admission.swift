import Foundation
import KubeModel

/// What the real API server checks and fills in on every write: server-owned metadata, defaults for the
/// kinds the engine reads back (Deployment replicas, Service type and clusterIP, Namespace phase), Secret
/// stringData, and the validation errors (422 Invalid) a client is most likely to meet.
extension StoreState {
    static let dnsSubdomain = try! NSRegularExpression(pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    static let dnsLabel = try! NSRegularExpression(pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    func validateName(_ t: ResourceType, _ name: String) throws {
        var problems: [(String, String)] = []
        if name.isEmpty { problems.append(("metadata.name", "Required value: name or generateName is required")) }
        else if t.group == "rbac.authorization.k8s.io" {
            if name.contains("/") || name.contains("%") || name == "." || name == ".." {
                problems.append(("metadata.name", "Invalid value: \"\(name)\": may not contain '/' or '%'"))
            }
        } else if t.resource == "namespaces" || t.resource == "services" {
            if name.count > 63 || !Self.matches(Self.dnsLabel, name) {
                problems.append(("metadata.name", "Invalid value: \"\(name)\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"))
            }
        } else if name.count > 253 || !Self.matches(Self.dnsSubdomain, name) {
            problems.append(("metadata.name", "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
        }
        if !problems.isEmpty { throw APIError.invalid(t, name, problems) }
    }

    /// Fills defaults and checks the object; `old` is the stored object on an update.
    func admit(_ t: ResourceType, _ obj: inout JSON, old: JSON?) throws {
        let name = obj.name ?? ""
        var problems: [(String, String)] = []
        Defaults.apply(t, &obj)
        switch t.storageKey {
        case "secrets":
            if let sd = obj["stringData"]?.object {
                var data = obj["data"]?.object ?? [:]
                for (k, v) in sd { data[k] = .string(Data((v.string ?? "").utf8).base64EncodedString()) }
                obj["data"] = .object(data)
                obj["stringData"] = nil
            }
            if obj["type"] == nil { obj["type"] = "Opaque" }
        case "services":
            if obj[path: ["spec", "type"]]?.string != "ExternalName", obj[path: ["spec", "clusterIP"]] == nil {
                if let ip = old?[path: ["spec", "clusterIP"]] { obj[path: ["spec", "clusterIP"]] = ip }
                else {
                    serviceIPCounter += 1
                    let ip = "10.96.\(serviceIPCounter / 250).\(serviceIPCounter % 250 + 1)"
                    obj[path: ["spec", "clusterIP"]] = .string(ip)
                    obj[path: ["spec", "clusterIPs"]] = [.string(ip)]
                }
            }
            if obj[path: ["spec", "type"]]?.string != "ExternalName", (obj[path: ["spec", "ports"]]?.array ?? []).isEmpty,
               obj[path: ["spec", "clusterIP"]]?.string != "None" {
                problems.append(("spec.ports", "Required value"))
            }
        case "deployments.apps":
            let selector = obj[path: ["spec", "selector", "matchLabels"]]?.object
            if obj[path: ["spec", "selector"]] == nil { problems.append(("spec.selector", "Required value")) }
            if let selector {
                let labels = obj[path: ["spec", "template", "metadata", "labels"]]?.object ?? [:]
                if !selector.allSatisfy({ labels[$0.key] == $0.value }) {
                    problems.append(("spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`"))
                }
            }
            if let r = obj[path: ["spec", "replicas"]]?.int, r < 0 { problems.append(("spec.replicas", "Invalid value: \(r): must be greater than or equal to 0")) }
        case "namespaces":
            if obj[path: ["metadata", "deletionTimestamp"]] == nil { obj[path: ["status", "phase"]] = "Active" }
            var labels = obj[path: ["metadata", "labels"]]?.object ?? [:]
            if labels["kubernetes.io/metadata.name"] == nil { labels["kubernetes.io/metadata.name"] = .string(name); obj[path: ["metadata", "labels"]] = .object(labels) }
        case "customresourcedefinitions.apiextensions.k8s.io":
            if let plural = obj[path: ["spec", "names", "plural"]]?.string, let group = obj[path: ["spec", "group"]]?.string,
               name != "\(plural).\(group)" {
                problems.append(("metadata.name", "Invalid value: \"\(name)\": must be spec.names.plural+\".\"+spec.group"))
            }
            if ResourceCatalog.fromCRD(obj) == nil { problems.append(("spec", "Invalid value: group, names.plural, names.kind and a served version are required")) }
        default: break
        }
        if !problems.isEmpty { throw APIError.invalid(t, name, problems) }
    }
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds).
func timestamp(_ date: Date = Date()) -> String {
    var t = time_t(date.timeIntervalSince1970)
    var tm = tm()
    gmtime_r(&t, &tm)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
}
