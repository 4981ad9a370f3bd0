import Foundation

/// Typed Meshform values (a saved plan, a drift report, run and drift history) to and from JSON text, in the one form
/// every output uses: keys sorted, dates ISO 8601, `/` unescaped (addresses read as written). Foundation's Codable is
/// the right tool for a struct with many typed fields; `JSON` stays the tool for untyped Kubernetes objects and the
/// documented formats built from them (`PlanJSON`), and the two meet through `JSON`'s own Codable conformance.
public enum CodableJSON {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(type, from: data)
    }
}
