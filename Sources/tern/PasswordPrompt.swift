import TernSystem
import Foundation

/// Reads a password: from the terminal with echo off (and asked again to confirm), or one line
/// of standard input when it is not a terminal (for scripts: `echo pw | tern user hash`).
enum PasswordPrompt {
    static func read(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) == 1 else { return readLine(strippingNewline: true) }
        guard let first = readHidden(prompt), let second = readHidden("Again: ") else { return nil }
        guard first == second else {
            FileHandleStderr.write("the passwords differ\n")
            return nil
        }
        return first
    }

    private static func readHidden(_ prompt: String) -> String? {
        FileHandleStderr.write(prompt)
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandleStderr.write("\n")
        }
        return readLine(strippingNewline: true)
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
