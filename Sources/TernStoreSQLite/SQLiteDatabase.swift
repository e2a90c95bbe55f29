import TernSystem
import GRDB

/// How Tern opens its SQLite files: created mode 0600 (they hold hashes and mail metadata), in
/// WAL mode (a `DatabasePool`: readers never wait for the writer), waiting up to 10 s for a lock
/// another process holds, with the given `synchronous` level.
enum SQLiteDatabase {
    enum Synchronous: String {
        /// Every commit is on stable storage when it returns.
        case full = "FULL"
        /// A power loss may drop the last commits (the WAL stays consistent).
        case normal = "NORMAL"
    }

    static func connect(path: String, synchronous: Synchronous, migrator: DatabaseMigrator) throws -> DatabasePool {
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)") }
        let database = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(database)
        return database
    }
}
