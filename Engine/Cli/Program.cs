using CommandLine;

namespace Engine.Cli;

/// <summary>
/// `engine VERB [options]`. Every verb: --help, --seed, --device; a bad argument or a failed run
/// prints one line to stderr and exits non-zero (no stack traces for user errors).
/// </summary>
static class Program
{
    static int Main(string[] args)
    {
        var parser = new Parser(s => { s.HelpWriter = Console.Error; s.CaseInsensitiveEnumValues = true; s.AutoVersion = false; });
        try
        {
            // The Type[] overload puts the parser in verb mode even while there is a single verb.
            return parser.ParseArguments(args, typeof(PretrainOptions)).MapResult(
                (PretrainOptions o) => PretrainCommand.Run(o),
                errors => errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError) ? 0 : 2);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException or InvalidOperationException or InvalidDataException)
        {
            Console.Error.WriteLine($"engine: error: {e.Message}");
            return 1;
        }
    }
}
