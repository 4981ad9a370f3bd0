import Testing
import KubeModel

/// Expected texts are what k8s.io/apimachinery's resource.Quantity stores (its quantity_test.go tables
/// TestQuantityParseEmit and TestQuantityString, and the canonical-form rules in its doc comment).
@Suite struct QuantityTests {
    @Test(arguments: [
        // apimachinery TestQuantityParseEmit
        ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
        (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n"),
        // the values a real server rewrites (issue 11) and the doc comment's examples
        ("2048Mi", "2Gi"), ("2000m", "2"), ("0.5", "500m"), ("1.5", "1500m"), ("1.5Gi", "1536Mi"),
        ("100m", "100m"), ("128Mi", "128Mi"), ("1000", "1k"), ("512", "512"), ("1000Ki", "1000Ki"),
        ("0", "0"), ("0Mi", "0"), ("0.0", "0"), ("-0", "0"), ("1e3", "1e3"), ("1.5e3", "1500"), ("1000e3", "1e6"),
        ("1e21", "1e21"), ("1000E", "1e21"), ("0.5Gi", "512Mi"), ("1.1Ki", "1126400m"), ("-2048Mi", "-2Gi"),
        ("0.1n", "1n"), ("1.0000000001", "1000000001n"), ("8Ei", "9223372036854775807"), ("3072Ki", "3Mi"),
        // ParseQuantity's fast path keeps an already-canonical text as written
        ("+100m", "+100m"), ("1.200k", "1.200k"), ("1E3", "1E3"), ("0100m", "0100m"), ("2.100", "2.100"),
    ])
    func canonicalForm(_ input: String, _ stored: String) throws {
        #expect(try Quantity(parsing: input).description == stored)
        #expect(Quantity.canonical(input) == stored)
    }

    @Test(arguments: ["", "1.2.3", "1Qi", "1ki", "abc", "1e", "1e3.5", "--1", "1 Gi"])
    func notAQuantity(_ input: String) {
        #expect(Quantity.canonical(input) == nil)
        #expect { try Quantity(parsing: input) } throws: { ($0 as? Quantity.ParseError)?.text == input }
    }
}
