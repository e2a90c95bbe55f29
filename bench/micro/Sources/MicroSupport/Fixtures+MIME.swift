extension Fixtures {
    /// A newsletter-style message of about 20 KB as mail clients send it: multipart/mixed holding
    /// a multipart/alternative (text/plain and text/html, both quoted-printable) and a base64
    /// PDF attachment; trace fields, a folded DKIM-Signature and an encoded-word Subject on top.
    public static func multipartMessage() -> [UInt8] {
        var lines = [
            "Return-Path: <newsletter@lists.example.org>",
            "Received: from mail-out.example.org (mail-out.example.org [198.51.100.25])",
            "\tby mx.tern.example (Tern) with ESMTPS id 0123456789ABCDEF",
            "\tfor <bob.recipient@example.net>; Mon, 23 Nov 2026 09:12:44 +0000",
            "Received: from app01.internal.example.org (app01.internal.example.org [10.0.0.7])",
            "\tby mail-out.example.org (Postfix) with ESMTP id 4XkR2m1Zq9z",
            "\tfor <bob.recipient@example.net>; Mon, 23 Nov 2026 09:12:43 +0000 (UTC)",
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail2026;",
            "\tt=1795424763; h=from:to:cc:subject:date:message-id:mime-version:content-type;",
            "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
            "\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEFSYQOGRQoIVHwcD0o1vq1Q8eJ3v3l1DRDhJb0r2Q6Y4K",
            "\t 9ZeR8p5xHcW2m3Yk1Jp0QxV7uTn6bLs4aGfE2dC1B0A9z8y7x6w5v4u3t2s1r0q==",
            "From: \"Example News\" <newsletter@lists.example.org>",
            "To: Bob Recipient <bob.recipient@example.net>, carol@example.net",
            "Cc: \"Dave, Team Lead\" <dave@example.net>",
            "Reply-To: support@example.org",
            "Subject: =?UTF-8?Q?Your_November_report_=E2=80=94_3_new_items?=",
            "Date: Mon, 23 Nov 2026 09:12:43 +0000",
            "Message-ID: <20261123091243.4711.newsletter@lists.example.org>",
            "List-Unsubscribe: <https://lists.example.org/unsubscribe?u=4711>",
            "X-Tags: newsletter, monthly",
            "MIME-Version: 1.0",
            "Content-Type: multipart/mixed; boundary=\"=_mixed_7f3a9c\"",
            "",
            "This is a multi-part message in MIME format.",
            "",
            "--=_mixed_7f3a9c",
            "Content-Type: multipart/alternative; boundary=\"=_alt_51e2b0\"",
            "",
            "--=_alt_51e2b0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
        ]
        // Quoted-printable prose: soft breaks and an encoded non-ASCII character here and there.
        for (number, line) in prose(lines: 45, width: 70, seed: 1).enumerated() {
            lines.append(number % 9 == 4 ? line + " caf=C3=A9=" : line)
        }
        lines += [
            "",
            "--=_alt_51e2b0",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "<!DOCTYPE html><html><head><meta charset=3D\"utf-8\"><style>p { margin: 0 }</style>",
            "</head><body><table width=3D\"100%\"><tr><td>",
        ]
        for (number, line) in prose(lines: 70, width: 60, seed: 2).enumerated() {
            lines.append(number % 10 == 0 ? "<h2>Item \(number / 10 + 1)</h2>" : "<p>\(line) &amp; more</p>")
        }
        lines += [
            "</td></tr></table></body></html>",
            "",
            "--=_alt_51e2b0--",
            "",
            "--=_mixed_7f3a9c",
            "Content-Type: application/pdf; name=\"report-2026-11.pdf\"",
            "Content-Disposition: attachment; filename=\"report-2026-11.pdf\"",
            "Content-Transfer-Encoding: base64",
            "",
        ]
        lines += base64Lines(of: pseudoRandomBytes(count: 7 * 1024))
        lines += ["", "--=_mixed_7f3a9c--", ""]
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    /// Octets that look like compressed data (a linear congruential sequence).
    static func pseudoRandomBytes(count: Int) -> [UInt8] {
        var state: UInt32 = 0x2545_F491
        return (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }

    /// RFC 2045 §6.8 base64 in lines of 76 characters.
    static func base64Lines(of bytes: [UInt8]) -> [String] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var encoded: [UInt8] = []
        for start in stride(from: 0, to: bytes.count, by: 3) {
            let group = bytes[start..<min(start + 3, bytes.count)]
            let value = group.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for index in 0..<4 {
                encoded.append(
                    index <= group.count ? alphabet[Int(value >> (18 - 6 * UInt32(index)) & 0x3F)] : UInt8(ascii: "="))
            }
        }
        return stride(from: 0, to: encoded.count, by: 76).map {
            String(decoding: encoded[$0..<min($0 + 76, encoded.count)], as: UTF8.self)
        }
    }
}
