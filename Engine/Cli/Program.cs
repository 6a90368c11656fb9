using System.Reflection;
using CommandLine;
using CommandLine.Text;
using Engine.Distributed;
using Engine.Training;

namespace Engine.Cli;

/// <summary>
/// `engine VERB [options]`. Every verb: --help; a bad argument or a failed run prints one line
/// `engine: error: ...` to stderr and exits non-zero (no stack traces, no screens of help).
/// </summary>
static class Program
{
    static readonly Type[] Verbs = [typeof(PretrainOptions), typeof(SftOptions), typeof(SampleOptions), typeof(EvalOptions),
        typeof(TokenizeOptions), typeof(GrpoCliOptions), typeof(DataOptions), typeof(DemoOptions), typeof(RmOptions),
        typeof(PpoCliOptions), typeof(RejectionOptions), typeof(DistillOptions), typeof(PlotOptions)];

    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    static int Main(string[] args)
    {
        Interrupt.Install();
        args = CliErrors.Aliases(args);
        var parser = new Parser(s =>
        {
            s.HelpWriter = null;                    // errors are ours: one line, not the whole help screen
            s.CaseInsensitiveEnumValues = true;
            s.AutoVersion = true;
        });
        var parsed = parser.ParseArguments(args, Verbs);
        int code;
        bool agreed = true;          // every rank of a data-parallel run stops the same way (see Dist.Finish)
        try
        {
            if (parsed is NotParsed<object> failed) return Refused(failed, args);
            var options = parsed.Value;
            if (options is VerbOptions { Stray: var stray } && stray.Any())
            {
                string verb = CliErrors.VerbName(options);
                if (!Dist.LaunchedAsOtherRank)
                    Console.Error.WriteLine($"engine: error: {verb}: unexpected argument '{stray.First()}' " +
                                            $"(options start with --; see engine {verb} --help)");
                return 2;
            }
            Dist.Start();
            if (Dist.Size > 1 && options is not (PretrainOptions or SftOptions or RmOptions or GrpoCliOptions
                    or PpoCliOptions))
                throw new NotSupportedException($"{CliErrors.VerbName(options)} does not run data-parallel " +
                    "(pretrain, sft, rm, grpo and ppo do); run it without mpirun");
            code = Run(options);
        }
        catch (InterruptedException e)
        {
            if (Dist.IsRoot)
                Console.Error.WriteLine(e.Resumable
                    ? $"engine: interrupted after step {e.Step}; checkpoint {e.Checkpoint}; continue with: " +
                      (Dist.Size > 1 ? $"mpirun -np {Dist.Size} " : "") +
                      CliErrors.ResumeCommand(args, e.Checkpoint)
                    : $"engine: interrupted after step {e.Step}; weights saved in {e.Checkpoint} " +
                      $"({args[0]} runs cannot be resumed; start a new run from them with " +
                      $"--checkpoint {e.Checkpoint})");
            code = Interrupt.ExitCode;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException
                                       or InvalidOperationException or InvalidDataException or OverflowException
                                       or OutOfMemoryException or TimeoutException)
        {
            string message = e switch
            {
                OutOfMemoryException => "out of memory: the model, batch or context is too large for this machine",
                OverflowException => $"a size is too large ({e.Message})",
                _ => e.Message,
            };
            Dist.ReportError(message);
            code = 1;
            agreed = false;
        }
        Dist.Finish(code, agreed);
        return code;
    }

    static int Run(object options) => options switch
    {
        PretrainOptions o => TrainCommands.Pretrain(o),
        SftOptions o => TrainCommands.Sft(o),
        SampleOptions o => InferenceCommands.Sample(o),
        EvalOptions o => InferenceCommands.Eval(o),
        TokenizeOptions o => InferenceCommands.Tokenize(o),
        GrpoCliOptions o => RlCommands.Grpo(o),
        DataOptions o => RlCommands.Data(o),
        DemoOptions o => DemoCommand.Run(o),
        RmOptions o => RmCommand.Run(o),
        PpoCliOptions o => PpoCommand.Run(o),
        RejectionOptions o => RecipeCommands.Rejection(o),
        DistillOptions o => RecipeCommands.Distill(o),
        PlotOptions o => PlotCommand.Run(o),
        _ => throw new NotSupportedException($"no command for {options.GetType().Name}"),
    };

    /// <summary>Help and --version print to stdout and exit 0; every other parse error is one line and exit 2.</summary>
    static int Refused(NotParsed<object> failed, string[] args)
    {
        var errors = failed.Errors.ToList();
        if (errors.Any(e => e is VersionRequestedError))
        {
            Console.WriteLine($"engine {Version}");
            return 0;
        }
        if (errors.OfType<HelpVerbRequestedError>().FirstOrDefault() is { Matched: true, Type: { } verbType })
            return Refused((NotParsed<object>)new Parser(s => s.HelpWriter = null)
                .ParseArguments([CliErrors.VerbName(verbType), "--help"], Verbs), args);     // `engine help grpo` = `engine grpo --help`
        if (errors.Any(e => e is HelpRequestedError or HelpVerbRequestedError))
        {
            var help = HelpText.AutoBuild(failed, h =>
            {
                var verb = failed.TypeInfo.Current.GetCustomAttribute<VerbAttribute>();
                h.Heading = verb is null ? $"engine {Version}: engine VERB [options]; engine VERB --help for a verb's options"
                    : $"engine {Version}\nusage: engine {verb.Name} [options]\n{verb.HelpText}";
                h.Copyright = "";
                h.AddDashesToOption = true;
                return HelpText.DefaultParsingErrorsHandler(failed, h);
            }, e => e, verbsIndex: failed.TypeInfo.Current == typeof(NullInstance));
            Console.WriteLine(help);
            return 0;
        }
        if (!Dist.LaunchedAsOtherRank)       // under mpirun, rank 0 alone reports what every rank would
            Console.Error.WriteLine(
                $"engine: error: {CliErrors.Describe(errors[0], failed.TypeInfo.Current, Verbs, args)}");
        return 2;
    }
}
