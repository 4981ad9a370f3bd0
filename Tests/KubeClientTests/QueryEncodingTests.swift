import Testing
@testable import KubeClient

/// The query string of a request: values made only of RFC 3986's unreserved characters go as they are (the fast path),
/// anything else is percent-encoded byte by byte, as before it.
@Suite struct QueryEncodingTests {
    @Test func unreservedValuesGoAsIsOthersArePercentEncoded() {
        #expect(Transport.encodeQuery([("fieldManager", "meshform"), ("force", "true"), ("limit", "500"), ("v", "a-b.c_d~e")])
                == "fieldManager=meshform&force=true&limit=500&v=a-b.c_d~e")
        #expect(Transport.encodeQuery([("labelSelector", "app in (a,b)"), ("continue", "eyJ2Ijo=/+x"), ("n", "é")])
                == "labelSelector=app%20in%20%28a%2Cb%29&continue=eyJ2Ijo%3D%2F%2Bx&n=%C3%A9")
    }
}
