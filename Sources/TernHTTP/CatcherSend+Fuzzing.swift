import Foundation
import TernMIME

/// The send API's request as the fuzz target (Fuzz/TernFuzzTargets) sees it: the JSON decoded
/// and the message composed, or nil where the API answers 400.
package enum SendRequestComposing {
    package static func message(fromJSON octets: [UInt8]) -> [UInt8]? {
        guard let request = try? JSONDecoder().decode(APISendRequest.self, from: Data(octets)),
            let composer = try? request.composer()
        else { return nil }
        return try? composer.render(messageID: "K1@tern.send", date: 1_800_000_000, boundaryToken: "f")
    }
}
