/// The version of this build of Tern: what `tern --version` prints, what the release tarball is
/// named after (`scripts/release`), and what the catcher's `/api/v1/info` reports.
public enum TernVersion {
    public static let current = "0.1.0"
}
