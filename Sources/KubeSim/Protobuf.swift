import Foundation
import KubeModel

/// Just enough of Kubernetes' protobuf encoding for the bodies kubectl's typed commands send
/// (`kubectl create namespace|serviceaccount|configmap|secret|token`, `kubectl auth can-i`): the `k8s\0` envelope, ObjectMeta's
/// name, generateName, namespace, labels and annotations, ConfigMap and Secret data. Other protobuf
/// bodies answer 415, as a server that does not speak protobuf would.
enum KubeProtobuf {
    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    static func decode(_ data: Data) -> JSON? {
        let bytes = [UInt8](data)
        guard bytes.count > 4, Array(bytes[0..<4]) == magic else { return nil }
        var apiVersion = "", kind = "", raw: [UInt8] = []
        for (f, v) in fields(bytes[4...]) {
            if f == 1, case .bytes(let tm) = v {
                for (tf, tv) in fields(tm[...]) { if case .bytes(let b) = tv { if tf == 1 { apiVersion = str(b) } else if tf == 2 { kind = str(b) } } }
            }
            if f == 2, case .bytes(let b) = v { raw = b }
        }
        var obj: JSON = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        for (f, v) in fields(raw[...]) {
            guard case .bytes(let b) = v else { continue }
            switch (kind, f) {
            case (_, 1): obj["metadata"] = objectMeta(b)
            case ("ConfigMap", 2): obj["data"] = .object(stringMap(b, into: obj["data"]?.object ?? [:], base64: false))
            case ("ConfigMap", 3): obj["binaryData"] = .object(stringMap(b, into: obj["binaryData"]?.object ?? [:], base64: true))
            case ("Secret", 2): obj["data"] = .object(stringMap(b, into: obj["data"]?.object ?? [:], base64: true))
            case ("Secret", 3): obj["type"] = .string(str(b))
            case ("Secret", 4): obj["stringData"] = .object(stringMap(b, into: obj["stringData"]?.object ?? [:], base64: false))
            // DeleteOptions (client-go's typed Delete, e.g. Helm purging its release Secrets): 4 propagationPolicy.
            case ("DeleteOptions", 4): obj["propagationPolicy"] = .string(str(b))
            case ("TokenRequest", 2):
                var spec: [String: JSON] = [:]
                for (sf, sv) in fields(b[...]) {
                    if sf == 1, case .bytes(let a) = sv { spec["audiences"] = .array((spec["audiences"]?.array ?? []) + [.string(str(a))]) }
                    if sf == 4, case .varint(let n) = sv { spec["expirationSeconds"] = .int(Int(n)) }
                }
                obj["spec"] = .object(spec)
            case ("SelfSubjectAccessReview", 2):
                // SelfSubjectAccessReviewSpec: 1 resourceAttributes (namespace, verb, group, version, resource,
                // subresource, name), 2 nonResourceAttributes (path, verb); kubernetes/api authorization/v1/generated.proto.
                var spec: [String: JSON] = [:]
                for (sf, sv) in fields(b[...]) {
                    guard case .bytes(let a) = sv else { continue }
                    let names = sf == 1 ? ["namespace", "verb", "group", "version", "resource", "subresource", "name"] : ["path", "verb"]
                    var attributes: [String: JSON] = [:]
                    for (af, av) in fields(a[...]) where af >= 1 && af <= names.count {
                        if case .bytes(let x) = av { attributes[names[af - 1]] = .string(str(x)) }
                    }
                    spec[sf == 1 ? "resourceAttributes" : "nonResourceAttributes"] = .object(attributes)
                }
                obj["spec"] = .object(spec)
            default: continue
            }
        }
        return obj
    }

    enum Value { case varint(UInt64), bytes([UInt8]), other }

    static func fields(_ b: ArraySlice<UInt8>) -> [(Int, Value)] {
        var out: [(Int, Value)] = []
        var i = b.startIndex
        func varint() -> UInt64? {
            var r: UInt64 = 0, shift: UInt64 = 0
            while i < b.endIndex { let x = b[i]; i += 1; r |= UInt64(x & 0x7f) << shift; if x < 0x80 { return r }; shift += 7; if shift > 63 { return nil } }
            return nil
        }
        while i < b.endIndex {
            guard let key = varint() else { break }
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: guard let v = varint() else { return out }; out.append((field, .varint(v)))
            case 2:
                guard let n = varint(), i + Int(n) <= b.endIndex else { return out }
                out.append((field, .bytes(Array(b[i..<(i + Int(n))])))); i += Int(n)
            case 1: i += 8; out.append((field, .other))
            case 5: i += 4; out.append((field, .other))
            default: return out
            }
        }
        return out
    }

    static func str(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    static func stringMap(_ entry: [UInt8], into m: [String: JSON], base64: Bool) -> [String: JSON] {
        var m = m, k = "", v: [UInt8] = []
        for (f, val) in fields(entry[...]) { if case .bytes(let b) = val { if f == 1 { k = str(b) } else if f == 2 { v = b } } }
        m[k] = .string(base64 ? Data(v).base64EncodedString() : str(v))
        return m
    }

    static func objectMeta(_ b: [UInt8]) -> JSON {
        var meta: [String: JSON] = [:]
        for (f, v) in fields(b[...]) {
            guard case .bytes(let x) = v else { continue }
            switch f {
            case 1: meta["name"] = .string(str(x))
            case 2: meta["generateName"] = .string(str(x))
            case 3: meta["namespace"] = .string(str(x))
            case 11: meta["labels"] = .object(stringMap(x, into: meta["labels"]?.object ?? [:], base64: false))
            case 12: meta["annotations"] = .object(stringMap(x, into: meta["annotations"]?.object ?? [:], base64: false))
            default: break
            }
        }
        return .object(meta)
    }
}
