import Foundation
import XCTest
import Wire

final class SHA256Tests: XCTestCase {
    // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
    func testEmptyMessageMatchesNISTVector() {
        XCTAssertEqual(SHA256().hexDigest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testOneBlockMessageMatchesNISTVector() {
        var hasher = SHA256()
        hasher.update("abc")
        XCTAssertEqual(hasher.hexDigest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testTwoBlock448BitMessageMatchesNISTVector() {
        var hasher = SHA256()
        hasher.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        XCTAssertEqual(hasher.hexDigest, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func test896BitMessageMatchesNISTVector() {
        var hasher = SHA256()
        hasher.update("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
        XCTAssertEqual(hasher.hexDigest, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    func testMillionAsMatchesNISTVector() {
        var hasher = SHA256()
        let thousand = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(thousand) }
        XCTAssertEqual(hasher.hexDigest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testOneShotHashReturnsThirtyTwoBytes() {
        let digest = SHA256.hash(Array("abc".utf8))
        XCTAssertEqual(digest.count, 32)
        XCTAssertEqual(Array(digest.prefix(4)), [0xba, 0x78, 0x16, 0xbf])
    }

    func testIncrementalUpdatesInRandomSplitsMatchOneShot() {
        var rng = SystemRandomNumberGenerator()
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 127, 128, 129, 1000, 4097] {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = SHA256.hash(message)
            for _ in 0..<20 {
                var hasher = SHA256()
                var offset = 0
                while offset < message.count {
                    let take = Int.random(in: 0...min(130, message.count - offset), using: &rng)
                    hasher.update(message[offset..<offset + take])
                    offset += take
                }
                XCTAssertEqual(hasher.finalize(), expected, "length \(length)")
            }
        }
    }

    func testNonContiguousSequenceHashesLikeItsBytes() {
        let message = Array("the quick brown fox".utf8)
        var hasher = SHA256()
        hasher.update(message.lazy.map { $0 })
        XCTAssertEqual(hasher.finalize(), SHA256.hash(message))
    }

    func testFinalizeDoesNotConsumeTheHasher() {
        var hasher = SHA256()
        hasher.update("ab")
        _ = hasher.finalize()
        hasher.update("c")
        XCTAssertEqual(hasher.hexDigest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Independent oracle: coreutils' sha256sum, on lengths around every padding boundary.
    func testDigestsAgreeWithSha256sum() throws {
        let tool = URL(fileURLWithPath: "/usr/bin/sha256sum")
        guard FileManager.default.isExecutableFile(atPath: tool.path) else {
            throw XCTSkip("sha256sum not installed")
        }
        var rng = SystemRandomNumberGenerator()
        for length in [1, 54, 55, 56, 57, 63, 64, 65, 111, 112, 113, 200, 10_000] {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let process = Process()
            process.executableURL = tool
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data(message))
            try input.fileHandleForWriting.close()
            let printed = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let expected = String(decoding: printed.prefix(64), as: UTF8.self)
            var hasher = SHA256()
            hasher.update(message)
            XCTAssertEqual(hasher.hexDigest, expected, "length \(length)")
        }
    }
}
