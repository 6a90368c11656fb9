using System.Text.RegularExpressions;

namespace Engine.Tasks;

/// <summary>One problem: the prompt the model sees, the reference answer, and (where the task has one) a worked solution.</summary>
public sealed record Problem(string Prompt, string Answer, string? Completion = null);

/// <summary>What a verifier says of a response's final answer.</summary>
public enum Verdict { Missing, Malformed, Wrong, Correct }

/// <summary>
/// A task with verifiable answers: it generates train/test problems from a seed (disjoint splits)
/// and checks the text inside a response's last &lt;answer&gt;…&lt;/answer&gt;.
/// </summary>
public interface IReasoningTask
{
    string Name { get; }
    /// <summary>n problems of a split ("train" or "test"); the same seed gives the same problems, and the splits never
    /// share a prompt.</summary>
    IReadOnlyList<Problem> Generate(string split, int n, int seed);
    /// <summary>Checks an extracted answer against the problem.</summary>
    Verdict Verify(Problem problem, string answer);
}

/// <summary>A task that can work one problem at several lengths of thinking (the thinking-budget study).</summary>
public interface IVariedThoughts
{
    /// <summary>Correct thoughts for the problem (the text between &lt;think&gt; and &lt;/think&gt;), fewest steps first,
    /// with at most `checks` verification passes after the plain derivation.</summary>
    IReadOnlyList<string> Thoughts(Problem problem, int checks);
}

public static class ReasoningTasks
{
    public static readonly string[] Names = ["arithmetic", "countdown", "multisum", "multisum:1"];

    public static IReasoningTask Create(string name) => name.ToLowerInvariant() switch
    {
        "arithmetic" => new ArithmeticTask(),
        "countdown" => new CountdownTask(),
        "multisum" => new MultiSumTask(),
        "multisum:1" => new MultiSumTask(digits: 1),
        _ => throw new ArgumentException($"--task {name}: unknown task; expected {string.Join(" or ", Names)}"),
    };

    /// <summary>A worked solution in the format the verifiers and the format reward expect.</summary>
    public static string Worked(string thought, string answer) => $"<think>{thought}</think><answer>{answer}</answer>";

    static readonly Regex AnswerTag = new(@"<answer>(.*?)</answer>", RegexOptions.Singleline | RegexOptions.Compiled);

    /// <summary>The text inside the last &lt;answer&gt;…&lt;/answer&gt;, or null when there is none.</summary>
    public static string? ExtractAnswer(string response)
    {
        var matches = AnswerTag.Matches(response);
        return matches.Count == 0 ? null : matches[^1].Groups[1].Value.Trim();
    }

    /// <summary>Splits by hashing the prompt, so train and test never share a problem and each is stable under the seed.</summary>
    public static IReadOnlyList<Problem> Split(Func<Rng, Problem> make, string split, int n, int seed)
    {
        if (split is not ("train" or "test")) throw new ArgumentException($"--split {split}: expected train or test");
        if (n < 0) throw new ArgumentException($"--n must be >= 0, got {n}");
        bool wantTest = split == "test";
        var rng = new Rng(seed * 7919L + (wantTest ? 1 : 0));
        var seen = new HashSet<string>();
        var result = new List<Problem>(n);
        for (int tries = 0; result.Count < n && tries < 200 * (n + 10); tries++)
        {
            var p = make(rng);
            bool isTest = (uint)StableHash(p.Prompt) % 5 == 0;      // a fixed 20% of the problem space is test-only
            if (isTest == wantTest && seen.Add(p.Prompt)) result.Add(p);
        }
        return result;
    }

    static int StableHash(string s)
    {
        unchecked
        {
            int h = (int)2166136261;
            foreach (char c in s) h = (h ^ c) * 16777619;
            return h;
        }
    }
}
