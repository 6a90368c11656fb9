using CommandLine;

namespace Engine.Cli;

/// <summary>
/// `engine VERB [options]`. Every verb: --help, --seed, --device; a bad argument or a failed run
/// prints one line to stderr and exits non-zero (no stack traces for user errors).
/// </summary>
static class Program
{
    static readonly Type[] Verbs = [typeof(PretrainOptions), typeof(SftOptions), typeof(SampleOptions), typeof(EvalOptions), typeof(TokenizeOptions),
        typeof(GrpoCliOptions), typeof(DataOptions), typeof(DemoOptions), typeof(RmOptions), typeof(PpoCliOptions),
        typeof(RejectionOptions), typeof(DistillOptions), typeof(PlotOptions)];

    /// <summary>`--n` and `--k` are the documented flags; CommandLineParser needs long names of two or more letters.</summary>
    static string[] Aliases(string[] args) => args.Select(a => a switch
    {
        "--n" => "--n-problems",
        "--k" => "--k-samples",
        _ when a.StartsWith("--n=") => "--n-problems=" + a[4..],
        _ when a.StartsWith("--k=") => "--k-samples=" + a[4..],
        _ => a,
    }).ToArray();

    static int Main(string[] args)
    {
        args = Aliases(args);
        var parser = new Parser(s => { s.HelpWriter = Console.Error; s.CaseInsensitiveEnumValues = true; s.AutoVersion = false; });
        try
        {
            return parser.ParseArguments(args, Verbs).MapResult(
                (PretrainOptions o) => TrainCommands.Pretrain(o),
                (SftOptions o) => TrainCommands.Sft(o),
                (SampleOptions o) => InferenceCommands.Sample(o),
                (EvalOptions o) => InferenceCommands.Eval(o),
                (TokenizeOptions o) => InferenceCommands.Tokenize(o),
                (GrpoCliOptions o) => RlCommands.Grpo(o),
                (DataOptions o) => RlCommands.Data(o),
                (DemoOptions o) => DemoCommand.Run(o),
                (RmOptions o) => RmCommand.Run(o),
                (PpoCliOptions o) => PpoCommand.Run(o),
                (RejectionOptions o) => RecipeCommands.Rejection(o),
                (DistillOptions o) => RecipeCommands.Distill(o),
                (PlotOptions o) => PlotCommand.Run(o),
                errors => errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError) ? 0 : 2);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException
                                       or InvalidOperationException or InvalidDataException)
        {
            Console.Error.WriteLine($"engine: error: {e.Message}");
            return 1;
        }
    }
}
