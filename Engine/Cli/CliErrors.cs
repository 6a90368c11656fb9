using System.Reflection;
using CommandLine;

namespace Engine.Cli;

/// <summary>Turns CommandLineParser's errors into one line that says what is wrong and where to look.</summary>
static class CliErrors
{
    /// <summary>`--n` and `--k` are short forms of --n-problems and --k-samples (CommandLineParser needs two letters).</summary>
    public static string[] Aliases(string[] args) => args.Select(a => a switch
    {
        "--n" => "--n-problems",
        "--k" => "--k-samples",
        _ when a.StartsWith("--n=") => "--n-problems=" + a[4..],
        _ when a.StartsWith("--k=") => "--k-samples=" + a[4..],
        _ => a,
    }).ToArray();

    public static string VerbName(Type type) => type.GetCustomAttribute<VerbAttribute>()?.Name ?? type.Name;
    public static string VerbName(object options) => VerbName(options.GetType());

    static IEnumerable<string> OptionNames(Type type) =>
        type.GetProperties().Select(p => p.GetCustomAttribute<OptionAttribute>()?.LongName).OfType<string>();

    public static string Describe(Error error, Type verbType, Type[] verbs, string[] args)
    {
        string verbList = string.Join(", ", verbs.Select(VerbName));
        if (error is BadVerbSelectedError bad)
            return $"unknown verb '{bad.Token}'; the verbs are {verbList} (engine --help)";
        if (error is NoVerbSelectedError)
            return $"no verb given; the verbs are {verbList} (engine --help)";
        string verb = VerbName(verbType);
        string help = $"see engine {verb} --help";
        return error switch
        {
            UnknownOptionError u => $"{verb}: unknown option '{Dashes(u.Token)}'{Suggest(u.Token, verbType)}; {help}",
            BadFormatTokenError t => $"{verb}: cannot read '{t.Token}'; {help}",
            BadFormatConversionError c => $"{verb}: --{c.NameInfo.LongName}: '{ValueOf(c.NameInfo.LongName, args)}' " +
                                          $"is not a valid {KindOf(c.NameInfo.LongName, verbType)}; {help}",
            MissingValueOptionError m => $"{verb}: --{m.NameInfo.LongName} needs a value; {help}",
            MissingRequiredOptionError r => $"{verb}: --{r.NameInfo.LongName} is required; {help}",
            RepeatedOptionError r => $"{verb}: --{r.NameInfo.LongName} is given more than once; {help}",
            SequenceOutOfRangeError s => $"{verb}: --{s.NameInfo.LongName} has the wrong number of values; {help}",
            SetValueExceptionError s => $"{verb}: --{s.NameInfo.LongName}: {s.Exception.Message}; {help}",
            _ => $"{verb}: cannot parse the arguments ({error.Tag}); {help}",
        };
    }

    static string Dashes(string token) => token.StartsWith('-') ? token : (token.Length == 1 ? "-" : "--") + token;

    /// <summary>", did you mean --steps?" for a near miss (edit distance ≤ 2, or a prefix).</summary>
    static string Suggest(string token, Type verbType)
    {
        string name = token.TrimStart('-');
        var best = OptionNames(verbType).Select(o => (Name: o, Distance: Distance(name, o)))
            .Where(c => c.Distance <= 2 || (name.Length >= 3 && c.Name.StartsWith(name, StringComparison.Ordinal)))
            .OrderBy(c => c.Distance).FirstOrDefault();
        return best.Name is null ? "" : $" (did you mean --{best.Name}?)";
    }

    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    /// <summary>The text the user gave an option: `--lr fast` or `--lr=fast`.</summary>
    static string ValueOf(string name, string[] args)
    {
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--" + name) return i + 1 < args.Length ? args[i + 1] : "";
            if (args[i].StartsWith($"--{name}=", StringComparison.Ordinal)) return args[i][(name.Length + 3)..];
        }
        return "";
    }

    static string KindOf(string name, Type verbType)
    {
        var type = verbType.GetProperties().FirstOrDefault(p => p.GetCustomAttribute<OptionAttribute>()?.LongName == name)?.PropertyType;
        type = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(int) ? "whole number" : type == typeof(float) || type == typeof(double) ? "number"
            : type == typeof(bool) ? "true or false" : "value";
    }

    /// <summary>The command that continues an interrupted run: the same arguments, --resume pointing at the checkpoint.</summary>
    public static string ResumeCommand(string[] args, string checkpoint)
    {
        var kept = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--resume" or "--overwrite") { if (args[i] == "--resume") i++; continue; }
            if (args[i].StartsWith("--resume=", StringComparison.Ordinal)) continue;
            kept.Add(args[i]);
        }
        kept.Add("--resume");
        kept.Add(checkpoint);
        return "engine " + string.Join(' ', kept.Select(Quote));
    }

    static string Quote(string a) =>
        a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
