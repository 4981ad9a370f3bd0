import Foundation
import Synchronization
import KubeModel

/// `?fieldValidation=`: what the server does with fields the schema does not declare. kube-apiserver 1.27+
/// defaults to Warn (KEP-2885, "Server Side Unknown Field Validation").
enum FieldValidation: String {
    case strict = "Strict", warn = "Warn", ignore = "Ignore"
}

/// Warnings a request collects, sent back as `Warning: 299 - "..."` headers (as kubectl prints them).
final class Warnings: Sendable {
    private let collected = Mutex<[String]>([])
    var messages: [String] { collected.withLock { $0 } }
    func add(_ more: [String]) { collected.withLock { $0 += more } }
}

/// The real OpenAPI schemas of the built-in kinds (Schemas/KubeOpenAPI.swift, generated from the PyPI
/// package kubernetes-validate by tools/kube-openapi-schemas.py), and the CRDs' `openAPIV3Schema`.
struct OpenAPISchemas: Sendable {
    let definitions: [String: JSON]
    let kinds: [String: String]

    static let shared: OpenAPISchemas = {
        let doc = (try? JSON.parse(Data(kubeOpenAPIJSON.utf8))) ?? [:]
        return OpenAPISchemas(definitions: doc["definitions"]?.object ?? [:],
                              kinds: (doc["kinds"]?.object ?? [:]).compactMapValues(\.string))
    }()

    static let quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    static let intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    static let objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    /// The definition name of a built-in kind, e.g. `io.k8s.api.apps.v1.Deployment`.
    func definition(_ t: ResourceType, version: String) -> String? {
        kinds[(t.group.isEmpty ? "" : t.group + "/") + version + "/" + t.kind]
    }

    /// The list-map keys the schema gives a list field (`x-kubernetes-list-map-keys`), e.g. a container's
    /// ports are keyed by containerPort and protocol.
    func listMapKeys(_ schema: JSON) -> [String]? {
        schema["x-kubernetes-list-map-keys"]?.array?.compactMap(\.string)
    }
}

/// One walk of an object against its schema, as the API server's decoder and structural pruning do it:
/// unknown fields are dropped and reported, wrong types are errors, quantities are canonicalised.
struct SchemaWalk {
    let schemas: OpenAPISchemas
    /// True for a CRD's openAPIV3Schema: an object without `properties` keeps nothing unless it says
    /// `x-kubernetes-preserve-unknown-fields` (structural pruning). Built-in objects without properties
    /// (RawExtension, FieldsV1) are opaque and keep everything.
    var structural: Bool
    var unknown: [String] = []
    var typeErrors: [(path: String, message: String)] = []

    init(schemas: OpenAPISchemas = .shared, structural: Bool) { self.schemas = schemas; self.structural = structural }

    mutating func walk(_ v: JSON, _ schema: JSON, path: String, parent: String = "") -> JSON {
        var schema = schema, structural = structural, name = parent
        if let ref = schema["$ref"]?.string {
            switch ref {
            case OpenAPISchemas.quantity: return quantity(v, path: path)
            case OpenAPISchemas.intOrString: return intOrString(v, path: path, parent: parent)
            default:
                schema = schemas.definitions[ref] ?? [:]
                structural = false   // a built-in definition (a CR's metadata): never structurally pruned
                name = String(ref.split(separator: ".").last ?? "")
            }
        }
        var inner = self; inner.structural = structural
        defer { unknown = inner.unknown; typeErrors = inner.typeErrors }
        return inner.walkResolved(v, schema, path: path, name: name)
    }

    private mutating func walkResolved(_ v: JSON, _ schema: JSON, path: String, name: String) -> JSON {
        let parent = name
        if structural, schema["x-kubernetes-int-or-string"]?.bool == true { return intOrString(v, path: path, parent: parent) }
        let types: [String] = schema["type"]?.string.map { [$0] } ?? schema["type"]?.array?.compactMap(\.string) ?? []
        if !types.isEmpty, !types.contains(where: { Self.matches(v, $0) }) {
            let want = types.first { $0 != "null" } ?? "object"
            typeErrors.append((path, structural
                ? "Invalid value: \"\(Self.jsonKind(v))\": \(path) in body must be of type \(want): \"\(Self.jsonKind(v))\""
                : "cannot unmarshal \(Self.jsonKind(v)) into Go struct field \(parent).\(path) of type \(Self.goType(want, schema))"))
            return v
        }
        if structural { typeErrors += Self.valueErrors(v, schema, path: path) }
        switch v {
        case .object(let o):
            if schema["x-kubernetes-preserve-unknown-fields"]?.bool == true, schema["properties"] == nil { return v }
            let props = schema["properties"]?.object
            let additional = schema["additionalProperties"]
            if props == nil, additional == nil || additional == .bool(true) {
                return structural && schema["x-kubernetes-preserve-unknown-fields"]?.bool != true && !types.isEmpty ? [:] : v
            }
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.bool == true
            var out: [String: JSON] = [:]
            for (k, child) in o {
                let p = path.isEmpty ? k : path + "." + k
                if let s = props?[k] {
                    let value = walk(child, s, path: p, parent: name)
                    if !structural, Self.isEmptyOptional(value, s, field: k, required: schema["required"]) { continue }
                    out[k] = value
                }
                else if let a = additional, case .object = a { out[k] = walk(child, a, path: p, parent: name) }
                else if preserve { out[k] = child }
                else { unknown.append(p) }
            }
            return .object(out)
        case .array(let a):
            guard let items = schema["items"] else { return v }
            return .array(a.enumerated().map { walk($1, items, path: "\(path)[\($0)]", parent: parent) })
        default:
            return v
        }
    }

    /// A CRD schema's value validations, with the messages kube-apiserver gives for them: kube-openapi's
    /// validators (pkg/validation/validate, messages from pkg/validation/errors/schema.go) turned into field errors
    /// by apiextensions-apiserver's kubeOpenAPIResultToFieldErrors (enum: NotSupported, maxLength: TooLongMaxLength,
    /// maxItems: TooMany, the rest: Invalid). `required` is not checked: a server-side apply body is partial here.
    static func valueErrors(_ v: JSON, _ schema: JSON, path: String) -> [(path: String, message: String)] {
        var out: [(path: String, message: String)] = []
        func shown(_ x: JSON) -> String { if case .string(let s) = x { return quoted(s) }; return x.canonicalText }
        func number(_ x: JSON) -> Double? {
            switch x { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
        }
        func bound(_ x: JSON) -> String { x.canonicalText }
        let field = path.isEmpty ? "body" : path
        if let allowed = schema["enum"]?.array, !allowed.contains(v) {
            let values = allowed.map { quoted($0.string ?? $0.canonicalText) }.joined(separator: ", ")
            out.append((path, "Unsupported value: \(shown(v)): supported values: \(values)"))
        }
        if case .string(let s) = v {
            let length = s.unicodeScalars.count   // go-openapi counts runes
            if let max = schema["maxLength"]?.int, length > max { out.append((path, "Too long: may not be longer than \(max)")) }
            if let min = schema["minLength"]?.int, length < min {
                out.append((path, "Invalid value: \(shown(v)): \(field) in body should be at least \(min) chars long"))
            }
            if let pattern = schema["pattern"]?.string, let re = try? NSRegularExpression(pattern: pattern),
               re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil {
                out.append((path, "Invalid value: \(shown(v)): \(field) in body should match '\(pattern)'"))
            }
        }
        if let x = number(v) {
            if let min = schema["minimum"], let m = number(min) {
                let exclusive = schema["exclusiveMinimum"]?.bool == true
                if exclusive ? x <= m : x < m {
                    out.append((path, "Invalid value: \(shown(v)): \(field) in body should be greater than \(exclusive ? "" : "or equal to ")\(bound(min))"))
                }
            }
            if let max = schema["maximum"], let m = number(max) {
                let exclusive = schema["exclusiveMaximum"]?.bool == true
                if exclusive ? x >= m : x > m {
                    out.append((path, "Invalid value: \(shown(v)): \(field) in body should be less than \(exclusive ? "" : "or equal to ")\(bound(max))"))
                }
            }
        }
        if case .array(let a) = v, let max = schema["maxItems"]?.int, a.count > max {
            out.append((path, "Too many: \(a.count): must have at most \(max) items"))
        }
        return out
    }

    /// A string as Go's strconv.Quote writes it (field errors quote string values and supported values so).
    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    mutating func quantity(_ v: JSON, path: String) -> JSON {
        let text: String
        switch v {
        case .string(let s): text = s.trimmingCharacters(in: .whitespaces)
        case .int(let i): text = String(i)
        case .double(let d): text = String(d)
        default: typeErrors.append((path, "cannot unmarshal \(Self.jsonKind(v)) into Go value of type resource.Quantity")); return v
        }
        // KubeModel.Quantity is the one port of apimachinery's resource.Quantity (the engine compares with it too).
        guard let q = try? Quantity(parsing: text) else { typeErrors.append((path, Self.quantityFormatError)); return v }
        return .string(q.description)
    }

    /// The message of apimachinery's `ErrFormatWrong`, which the API server returns for a quantity that does not parse
    /// (it says `ErrSuffix`'s "unable to parse quantity's suffix" for a few malformed suffixes; we always say this one).
    static let quantityFormatError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

    mutating func intOrString(_ v: JSON, path: String, parent: String) -> JSON {
        switch v {
        case .int, .string: return v
        default:
            typeErrors.append((path, "cannot unmarshal \(Self.jsonKind(v)) into Go struct field \(parent).\(path) of type intstr.IntOrString"))
            return v
        }
    }

    /// An empty map or list in an optional field: Go's `omitempty` drops it when the server encodes the
    /// object. kube-openapi marks exactly the fields without `omitempty` as required; PolicyRule's
    /// `verbs` and Role's `rules` are the exceptions (no omitempty, yet optional or not checked here).
    static func isEmptyOptional(_ v: JSON, _ schema: JSON, field: String, required: JSON?) -> Bool {
        guard schema["$ref"] == nil, schema["items"] != nil || schema["additionalProperties"]?.object != nil else { return false }
        guard v == .array([]) || v == .object([:]) else { return false }
        return !(required?.array ?? []).contains(.string(field)) && !["rules", "verbs"].contains(field)
    }

    static func matches(_ v: JSON, _ type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("string", .string), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double),
             ("object", .object), ("array", .array): return true
        default: return false
        }
    }

    static func jsonKind(_ v: JSON) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func goType(_ type: String, _ schema: JSON) -> String {
        switch type {
        case "integer": return schema["format"]?.string ?? "int64"
        case "number": return "float64"
        case "boolean": return "bool"
        case "array": return "[]"
        case "object": return schema["properties"] == nil ? "map[string]" : "struct"
        default: return type
        }
    }
}

/// A place in a kind's schema, followed while walking an object: what server-side apply needs to know
/// about lists (`x-kubernetes-list-type` map/set/atomic and `x-kubernetes-list-map-keys`), as
/// structured-merge-diff reads them. A list without a list type is atomic, as for the real server.
struct SchemaNode {
    let schema: JSON
    let schemas: OpenAPISchemas

    init(_ schema: JSON, _ schemas: OpenAPISchemas = .shared) {
        var s = schema
        while let ref = s["$ref"]?.string, let def = schemas.definitions[ref] { s = def }
        self.schema = s; self.schemas = schemas
    }

    func child(_ key: String) -> SchemaNode? {
        if let p = schema["properties"]?[key] { return SchemaNode(p, schemas) }
        if let a = schema["additionalProperties"], case .object = a { return SchemaNode(a, schemas) }
        return nil
    }

    var items: SchemaNode? { schema["items"].map { SchemaNode($0, schemas) } }
    var listType: String? { schema["x-kubernetes-list-type"]?.string }
    var mapKeys: [String] { schema["x-kubernetes-list-map-keys"]?.array?.compactMap(\.string) ?? [] }

    /// A list-map key field an item may omit, with the default structured-merge-diff uses for it (the
    /// `+default="TCP"` of a port's protocol in k8s.io/api core/v1 types.go).
    static let keyDefaults: [String: JSON] = ["protocol": "TCP"]
}

extension StoreState {
    /// The schema of a kind as the server decodes it: the built-in definition, or a served CRD version's
    /// `openAPIV3Schema` with apiVersion, kind and metadata added (`structural`: pruned as a CRD schema).
    func schemaRoot(_ t: ResourceType, version: String) -> (schema: JSON, structural: Bool)? {
        if let def = OpenAPISchemas.shared.definition(t, version: version) { return (["$ref": .string(def)], false) }
        guard let crdType = catalog.lookup(group: "apiextensions.k8s.io", kind: "CustomResourceDefinition"),
              let crd = stored(crdType, "", "\(t.resource).\(t.group)")?.object,
              let v = crd[path: ["spec", "versions"]]?.array?.first(where: { $0["name"]?.string == version }),
              var root = v[path: ["schema", "openAPIV3Schema"]] else { return nil }
        root[path: ["properties", "apiVersion"]] = ["type": "string"]
        root[path: ["properties", "kind"]] = ["type": "string"]
        root[path: ["properties", "metadata"]] = ["$ref": .string(OpenAPISchemas.objectMeta)]
        return (root, true)
    }

    /// The schema node field management walks for a kind (ObjectMeta alone when the kind has no schema).
    func schemaNode(_ t: ResourceType, version: String) -> SchemaNode {
        SchemaNode(schemaRoot(t, version: version)?.schema ?? ["properties": ["metadata": ["$ref": .string(OpenAPISchemas.objectMeta)]]])
    }
}
