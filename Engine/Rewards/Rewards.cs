using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Tasks;

namespace Engine.Rewards;

/// <summary>The plug-in point: a reward for one response to one problem. Implement it to add your own.</summary>
public interface IRewardFunction
{
    string Name { get; }
    float Score(Problem problem, string response, ResponseInfo info);
}

/// <summary>What the sampler knows of a response besides its text.</summary>
public sealed record ResponseInfo(int Length, bool Truncated);

/// <summary>1 for a correct final answer (the task's verifier on the last &lt;answer&gt;), else 0; TinyZero's 0.1 for a
/// well-formed wrong countdown answer when partial credit is on.</summary>
public sealed class AccuracyReward(IReasoningTask task, float wellFormedWrong = 0f) : IRewardFunction
{
    public string Name => "accuracy";

    public float Score(Problem problem, string response, ResponseInfo info)
    {
        var answer = ReasoningTasks.ExtractAnswer(response);
        if (answer is null) return 0f;
        return task.Verify(problem, answer) switch { Verdict.Correct => 1f, Verdict.Wrong => wellFormedWrong, _ => 0f };
    }
}

/// <summary>
/// The reasoning format: exactly "&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;…&lt;/answer&gt;" scores 1 (strict); with
/// partial credit each of the four tags present exactly once and in order adds 0.25. A prompt asked with thinking
/// off (<see cref="ThinkingModes"/>) wants exactly "&lt;answer&gt;…&lt;/answer&gt;": 1, or 0 (any &lt;think&gt; fails).
/// </summary>
public sealed class FormatReward(bool partial = false) : IRewardFunction
{
    const string NoTag = "(?:(?!</?think>|</?answer>).)*";       // any text without a reasoning or answer tag
    static readonly Regex Strict = new($"^<think>{NoTag}</think><answer>{NoTag}</answer>$",
        RegexOptions.Singleline | RegexOptions.Compiled);
    static readonly Regex AnswerOnly = new($"^<answer>{NoTag}</answer>$", RegexOptions.Singleline | RegexOptions.Compiled);
    static readonly string[] Tags = ["<think>", "</think>", "<answer>", "</answer>"];

    public string Name => "format";

    public float Score(Problem problem, string response, ResponseInfo info)
    {
        string text = response.Trim();
        if (ThinkingModes.IsOff(problem.Prompt)) return AnswerOnly.IsMatch(text) ? 1f : 0f;
        if (!partial) return Strict.IsMatch(text) ? 1f : 0f;
        float score = 0f;
        int last = -1;
        foreach (var tag in Tags)
        {
            int first = text.IndexOf(tag, StringComparison.Ordinal);
            bool once = first >= 0 && text.IndexOf(tag, first + tag.Length, StringComparison.Ordinal) < 0;
            if (once && first > last) { score += 0.25f; last = first; }
        }
        return score;
    }
}

/// <summary>
/// Cosine length scaling of correctness (Kimi k1.5 / open-r1): r = r_min + ½(r_max − r_min)(1 + cos(π·L/L_max)),
/// with (r_min, r_max) = (0.5, 1.0) for a correct answer and (0.0, −0.5) for a wrong one.
/// </summary>
public sealed class CosineLengthReward(IReasoningTask task, int maxLength) : IRewardFunction
{
    public string Name => "cosine";

    public float Score(Problem problem, string response, ResponseInfo info)
    {
        var answer = ReasoningTasks.ExtractAnswer(response);
        bool correct = answer is not null && task.Verify(problem, answer) == Verdict.Correct;
        var (rMin, rMax) = correct ? (0.5, 1.0) : (0.0, -0.5);
        double progress = Math.Min(1.0, (double)info.Length / maxLength);
        return (float)(rMin + 0.5 * (rMax - rMin) * (1 + Math.Cos(Math.PI * progress)));
    }
}

/// <summary>DAPO's overlong penalty: min(0, −(L − (L_max − L_buf))/L_buf)·penalty, and −penalty beyond L_max.</summary>
public sealed class OverlongPenalty(int maxLength, int buffer, float penalty = 1f) : IRewardFunction
{
    public string Name => "overlong";

    public float Score(Problem problem, string response, ResponseInfo info)
    {
        if (info.Length > maxLength) return -penalty;
        return Math.Min(0f, -(float)(info.Length - (maxLength - buffer)) / buffer) * penalty;
    }
}

/// <summary>
/// L1's length control (LCPO-Exact): −|thinking length − budget| for a prompt that carries a budget
/// (<see cref="LengthControl"/>), 0 for one that does not; thinking length in characters (the char tokenizer's
/// tokens). Its weight in --rewards is L1's α: "accuracy:1,length-control:0.02".
/// </summary>
public sealed class LengthControlReward : IRewardFunction
{
    public string Name => "length-control";

    public float Score(Problem problem, string response, ResponseInfo info) =>
        LengthControl.Budget(problem.Prompt) is int budget ? -Math.Abs(LengthControl.ThinkChars(response) - budget) : 0f;
}

/// <summary>Weighted reward functions; the total is Σ weight·score, and each score is kept for the metrics.</summary>
public sealed class RewardSet(IReadOnlyList<(IRewardFunction Function, float Weight)> parts)
{
    public IReadOnlyList<(IRewardFunction Function, float Weight)> Parts => parts;

    public (float Total, float[] Each) Score(Problem problem, string response, ResponseInfo info)
    {
        var each = parts.Select(p => p.Function.Score(problem, response, info)).ToArray();
        float total = 0f;
        for (int i = 0; i < each.Length; i++) total += parts[i].Weight * each[i];
        return (total, each);
    }

    /// <summary>"accuracy:1,format:0.2" (names: accuracy, format, format-partial, cosine, overlong, length-control).</summary>
    public static RewardSet Parse(string spec, IReasoningTask task, int maxLength)
    {
        var parts = new List<(IRewardFunction, float)>();
        foreach (var item in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = item.Split(':');
            float weight = 1f;
            if (kv.Length > 2 || (kv.Length == 2 && !float.TryParse(kv[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight)))
                throw new ArgumentException($"--rewards {spec}: '{item}' is not NAME or NAME:WEIGHT");
            IRewardFunction f = kv[0] switch
            {
                "accuracy" => new AccuracyReward(task, task is CountdownTask ? 0.1f : 0f),
                "format" => new FormatReward(),
                "format-partial" => new FormatReward(partial: true),
                "cosine" => new CosineLengthReward(task, maxLength),
                "overlong" => new OverlongPenalty(maxLength, Math.Max(1, maxLength / 4)),
                "length-control" => new LengthControlReward(),
                _ => throw new ArgumentException($"--rewards {spec}: unknown reward '{kv[0]}' (accuracy, format, " +
                    $"format-partial, cosine, overlong, length-control)"),
            };
            parts.Add((f, weight));
        }
        if (parts.Count == 0) throw new ArgumentException("--rewards: no reward function given");
        return new RewardSet(parts);
    }
}
