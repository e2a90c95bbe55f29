
import TernSystem

/// Thin, blocking POSIX file calls for the stores. They run on a thread pool, never on an
/// event loop, and report failures as `StoreError` with the errno.
enum POSIXFile {
    /// A new file; with `replacing`, one already there is truncated instead of an error.
    static func create(_ path: String, replacing: Bool = false) throws(StoreError) -> CInt {
        let fd = open(path, O_WRONLY | O_CREAT | (replacing ? O_TRUNC : O_EXCL) | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .posix("open \(path)", errno: errno) }
        return fd
    }

    /// The first `limit` octets of a file.
    static func readPrefix(of path: String, limit: Int) throws(StoreError) -> [UInt8] {
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw .posix("open \(path)", errno: errno) }
        defer { _ = systemClose(source) }
        return try readOctets(source, upTo: limit, path: path)
    }

    /// Up to `limit` octets from `source`'s position, fewer at its end; EINTR and short reads
    /// retried.
    private static func readOctets(_ source: CInt, upTo limit: Int, path: String) throws(StoreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let count = bytes.withUnsafeMutableBytes { read(source, $0.baseAddress! + filled, limit - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix("read \(path)", errno: errno)
            }
            if count == 0 { break }
            filled += count
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// The first `limit` octets of a file and its size, through one open (no second lookup of
    /// the path for its size).
    static func readPrefixAndSize(of path: String, limit: Int) throws(StoreError) -> (octets: [UInt8], size: Int) {
        try readPrefixAndSize(opened: open(path, O_RDONLY | O_CLOEXEC), path: path, limit: limit)
    }

    /// The same for the file `name` of an open directory (openat: one component to look up,
    /// not a whole path, per message of a FETCH).
    static func readPrefixAndSize(in directory: CInt, name: String, limit: Int) throws(StoreError) -> (octets: [UInt8], size: Int) {
        try readPrefixAndSize(opened: openat(directory, name, O_RDONLY | O_CLOEXEC), path: name, limit: limit)
    }

    private static func readPrefixAndSize(opened source: CInt, path: String, limit: Int) throws(StoreError) -> (octets: [UInt8], size: Int) {
        guard source >= 0 else { throw .posix("open \(path)", errno: errno) }
        defer { _ = systemClose(source) }
        var info = stat()
        guard fstat(source, &info) == 0 else { throw .posix("fstat \(path)", errno: errno) }
        let size = max(0, Int(info.st_size))
        let bytes = try readOctets(source, upTo: max(0, min(limit, size)), path: path)
        return (bytes, max(size, bytes.count))
    }

    /// Appends the whole content of the file at `path` to `target`, a chunk at a time, calling
    /// `between` once the first `offset` octets are copied.
    static func copyContent(
        of path: String, splitAt offset: Int, to target: CInt, between: () throws(StoreError) -> Void
    ) throws(StoreError) {
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw .posix("open \(path)", errno: errno) }
        defer { _ = systemClose(source) }
        let head = try readOctets(source, upTo: max(0, offset), path: path)
        try writeAll(target, octets: head)
        try between()
        while true {
            let chunk = try readOctets(source, upTo: 256 * 1024, path: path)
            if chunk.isEmpty { return }
            try writeAll(target, octets: chunk)
        }
    }

    /// Writes all of `octets` (typed throws, where `withUnsafeBytes` would rethrow `any Error`).
    static func writeAll(_ fd: CInt, octets: [UInt8]) throws(StoreError) {
        let written: Result<Void, StoreError> = octets.withUnsafeBytes { bytes in
            Result { () throws(StoreError) in try writeAll(fd, bytes) }
        }
        try written.get()
    }

    /// An existing file, for reading and overwriting in place.
    static func openReadWrite(_ path: String) throws(StoreError) -> CInt {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open \(path)", errno: errno) }
        return fd
    }

    /// Writes all of `bytes` at `offset` (pwrite), retrying on EINTR and short writes.
    static func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let result = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw .posix("pwrite", errno: errno)
            }
            done += result
        }
    }

    static func openDirectory(_ path: String) throws(StoreError) -> CInt {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open directory \(path)", errno: errno) }
        return fd
    }

    /// Writes all readable octets of `buffer`, retrying on EINTR and short writes.
    static func writeAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let result = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if result < 0 {
                if errno == EINTR { continue }
                throw .posix("write", errno: errno)
            }
            offset += result
        }
    }

    static func dataSync(_ fd: CInt) throws(StoreError) {
        #if canImport(Darwin)
        let result = fsync(fd)
        #else
        let result = fdatasync(fd)
        #endif
        guard result == 0 else { throw .posix("fdatasync", errno: errno) }
    }

    /// `fdatasync` of the file at `path`, through a descriptor of its own.
    static func dataSync(path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open \(path)", errno: errno) }
        defer { _ = systemClose(fd) }
        try dataSync(fd)
    }

    /// `syncfs(2)` of the filesystem that holds `fd`.
    static func syncFilesystem(_ fd: CInt) throws(StoreError) {
        guard tern_syncfs(fd) == 0 else { throw .posix("syncfs", errno: errno) }
    }

    /// The device (filesystem) that holds `fd`.
    static func device(_ fd: CInt) throws(StoreError) -> UInt64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .posix("fstat", errno: errno) }
        return UInt64(info.st_dev)
    }

    static func sync(_ fd: CInt) throws(StoreError) {
        guard fsync(fd) == 0 else { throw .posix("fsync", errno: errno) }
    }

    static func close(_ fd: CInt) {
        _ = systemClose(fd)
    }

    static func rename(_ from: String, _ to: String) throws(StoreError) {
        guard systemRename(from, to) == 0 else { throw .posix("rename \(from)", errno: errno) }
    }

    static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Creates `path` and its parents (mode 0700: mail is private).
    static func makeDirectories(_ path: String) throws(StoreError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw .posix("mkdir \(current)", errno: errno)
            }
        }
    }

    /// The names in a directory, without `.` and `..`.
    static func list(_ path: String) throws(StoreError) -> [String] {
        guard let directory = opendir(path) else { throw .posix("opendir \(path)", errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file.
    static func readAll(_ path: String) throws(StoreError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open \(path)", errno: errno) }
        defer { _ = systemClose(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix("read \(path)", errno: errno)
            }
            if count == 0 { return result }
            result += chunk[..<count]
        }
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates an empty file at `path` if there is none (a marker such as `maildirfolder`).
    static func touch(_ path: String) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .posix("open \(path)", errno: errno) }
        _ = systemClose(fd)
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// The file's modification time to the nanosecond (a directory's changes with every entry
    /// added, removed or renamed in it).
    static func modificationStamp(_ path: String) -> ModificationStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        return ModificationStamp(seconds: Int64(info.st_mtimespec.tv_sec), nanoseconds: Int64(info.st_mtimespec.tv_nsec))
        #else
        return ModificationStamp(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int64(info.st_mtim.tv_nsec))
        #endif
    }

    struct ModificationStamp: Hashable, Sendable {
        var seconds: Int64
        var nanoseconds: Int64
    }

    /// The file's modification time in seconds since the epoch.
    static func modificationTime(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        return Int64(info.st_mtimespec.tv_sec)
        #else
        return Int64(info.st_mtim.tv_sec)
        #endif
    }
}

private func systemClose(_ fd: CInt) -> CInt { close(fd) }
private func systemRename(_ from: String, _ to: String) -> CInt { rename(from, to) }
