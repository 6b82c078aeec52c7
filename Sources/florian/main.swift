import Foundation

signal(SIGPIPE, SIG_IGN)
exit(CommandLine.run(Array(CommandLine.arguments.dropFirst())))
