import Foundation
import Testing
import KubeModel

/// The fast JSON reader/writer the store uses must read and write exactly what the Codable path does.
@Suite struct JSONTextTests {
    @Test func roundTripsRealIstioObjectsLikeTheCodablePath() throws {
        let text = try #require(ScaleTests.allOn, "fixtures absent")
        for doc in try YAMLDocuments.parse(text) {
            #expect(try JSON.parse(doc.encoded()) == doc)
            #expect(try JSON.parse(Data(doc.canonicalText.utf8)) == doc)
            #expect(try JSON(data: Data(doc.canonicalText.utf8)) == doc)
        }
    }

    @Test func escapesNumbersAndUnicode() throws {
        let v: JSON = ["s": "quote \" back \\ slash / tab \t nl \n ctrl \u{01} é 😀", "i": -42, "d": 1.5, "whole": .double(2),
                       "big": .double(1e20), "b": true, "n": nil, "a": [1, "x", [:]]]
        #expect(try JSON.parse(Data(v.canonicalText.utf8)) == v)
        #expect(try JSON.parse(Data(#"{"e":"\u00e9\ud83d\ude00\/"}"#.utf8)) == ["e": "é😀/"])
        #expect { try JSON.parse(Data("{\"a\":".utf8)) } throws: { ($0 as? JSONTextError)?.offset == 5 }
        #expect { try JSON.parse(Data("[1] x".utf8)) } throws: { ($0 as? JSONTextError)?.offset == 4 }
    }
}
