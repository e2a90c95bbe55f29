import TernApp

/// The configuration file: written by an administrator, but `tern check-config` must name the
/// key of any mistake instead of trapping, whatever the file holds (hostile-inputs 46).
enum ConfigurationTargets {
    /// TOML text through `ConfigurationLoader.parse` (TOMLKit, then every table and key Tern
    /// reads: listeners, limits, durations, domains, routes, users, the catcher).
    ///
    /// Keys that name files (`password_file`, `tls_ca_file`, certificates) are read when the
    /// configuration is loaded; the fuzzer may name any path it makes up, so run it where reading
    /// files is harmless (the process only reads them).
    static let configuration = FuzzTarget(
        name: "config",
        summary: "ConfigurationLoader.parse of TOML text (every section, key and value check)",
        maximumLength: 8 * 1024
    ) { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? ConfigurationLoader.parse(text, environment: ["TERN_FUZZ_PASSWORD": "secret"])
    }
}
