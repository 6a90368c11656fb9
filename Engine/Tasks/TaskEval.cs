using System.Text.Json.Serialization;
using Engine.Generation;
using Engine.Model;
using Engine.Rewards;
using Engine.Tokenizers;

namespace Engine.Tasks;

/// <summary>`engine eval --task --json` prints exactly these keys.</summary>
public sealed record TaskEvalResult(
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("pass@1")] double Pass1,
    [property: JsonPropertyName("pass@k")] double PassK,
    [property: JsonPropertyName("maj@k")] double MajK,
    [property: JsonPropertyName("k")] int K,
    [property: JsonPropertyName("format_rate")] double FormatRate,
    [property: JsonPropertyName("mean_length")] double MeanLength,
    [property: JsonPropertyName("mean_think_length")] double MeanThinkLength,
    [property: JsonPropertyName("think_rate")] double ThinkRate,
    [property: JsonPropertyName("pass_at")] SortedDictionary<int, double> PassAt,
    [property: JsonPropertyName("maj_at")] SortedDictionary<int, double> MajAt,
    [property: JsonPropertyName("best_of"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    SortedDictionary<int, double>? BestOf = null);

/// <summary>
/// Held-out evaluation of a policy on a task: pass@1 (greedy, or the mean over k samples when a
/// temperature is given), pass@k (any of k samples correct), maj@k (the most frequent answer among
/// the k is correct), the strict format rate and the mean completion length (of the pass@1 samples).
/// Inference-time scaling on the same samples, for j = 1, 2, 4, … k: pass@j (unbiased estimate), maj@j (majority of
/// the first j samples) and, given a reward model, best-of-j (the first j samples' highest-scored answer; ties go to
/// the earliest sample).
/// </summary>
public static class TaskEval
{
    public const string Stop = "</answer>";

    public static TaskEvalResult Evaluate(Transformer model, ITokenizer tokenizer, IReasoningTask task, IReadOnlyList<Problem> problems,
        int k, int maxNewTokens, float temperature, bool greedyPass1, int seed, int batch = 64, int thinkMin = 0, int thinkMax = -1,
        string? thinkWait = null,
        RL.IRewardScorer? scorer = null)
    {
        if (k < 1) throw new ArgumentException($"eval: --k must be >= 1, got {k}");
        var rng = new Rng(seed);
        var accuracy = new AccuracyReward(task);
        var format = new FormatReward();
        int n = problems.Count;
        double pass1 = 0, passK = 0, majK = 0, formatOk = 0, length = 0, thinkLength = 0, thinks = 0;
        var passAt = PowersOfTwo(k).ToDictionary(j => j, _ => 0.0);
        var majAt = PowersOfTwo(k).ToDictionary(j => j, _ => 0.0);
        var bestOf = scorer is null ? null : PowersOfTwo(k).ToDictionary(j => j, _ => 0.0);
        foreach (var chunk in problems.Chunk(Math.Max(1, batch / (greedyPass1 ? 1 : k))))
        {
            var prompts = chunk.Select(p => tokenizer.Encode(p.Prompt)).ToList();
            Completion[] first;
            if (greedyPass1)
                first = Generator.Generate(model, tokenizer, prompts, new SamplingOptions(maxNewTokens, 0f, Stop: [Stop],
                    ThinkMin: thinkMin, ThinkMax: thinkMax, ThinkWait: thinkWait), rng);
            else first = [];
            Completion[] sampled = k > 1 || !greedyPass1
                ? Generator.Generate(model, tokenizer, prompts.SelectMany(p => Enumerable.Repeat(p, k)).ToList(),
                    new SamplingOptions(maxNewTokens, temperature, Stop: [Stop], ThinkMin: thinkMin, ThinkMax: thinkMax,
                        ThinkWait: thinkWait), rng)
                : first;
            for (int i = 0; i < chunk.Length; i++)
            {
                var p = chunk[i];
                var samples = k > 1 || !greedyPass1 ? sampled.Skip(i * k).Take(k).ToArray() : [first[i]];
                bool Correct(Completion c) => accuracy.Score(p, c.Text, new ResponseInfo(c.Ids.Length, c.FinishReason == "length")) == 1f;
                if (greedyPass1)
                {
                    pass1 += Correct(first[i]) ? 1 : 0;
                    formatOk += format.Score(p, first[i].Text, new ResponseInfo(first[i].Ids.Length, false));
                    length += first[i].Ids.Length;
                    thinkLength += ThinkLength(tokenizer, first[i].Text);
                    thinks += Thinks(first[i].Text) ? 1 : 0;
                }
                else
                {
                    pass1 += samples.Count(Correct) / (double)k;
                    formatOk += samples.Average(c => format.Score(p, c.Text, new ResponseInfo(c.Ids.Length, false)));
                    length += samples.Average(c => c.Ids.Length);
                    thinkLength += samples.Average(c => ThinkLength(tokenizer, c.Text));
                    thinks += samples.Average(c => Thinks(c.Text) ? 1.0 : 0.0);
                }
                passK += samples.Any(Correct) ? 1 : 0;
                int correct = samples.Count(Correct);
                foreach (int j in passAt.Keys) passAt[j] += PassAt(samples.Length, correct, j);
                majK += MajorityCorrect(task, p, samples) ? 1 : 0;
                foreach (int j in majAt.Keys) majAt[j] += MajorityCorrect(task, p, samples.Take(j)) ? 1 : 0;
                if (bestOf is not null)
                {
                    float[] scores = scorer!.Score(samples.Select(c => (p.Prompt, c.Text)).ToList());
                    foreach (int j in bestOf.Keys) bestOf[j] += Correct(samples[BestIndex(scores, j)]) ? 1 : 0;
                }
            }
        }
        return new TaskEvalResult(task.Name, n, pass1 / n, passK / n, majK / n, k, formatOk / n, length / n, thinkLength / n, thinks / n,
            Mean(passAt, n), Mean(majAt, n), bestOf is null ? null : Mean(bestOf, n));
    }

    static SortedDictionary<int, double> Mean(Dictionary<int, double> sums, int n) =>
        new(sums.ToDictionary(p => p.Key, p => p.Value / n));

    /// <summary>The most frequent extracted answer among the samples is correct (ties: the answer seen first).</summary>
    static bool MajorityCorrect(IReasoningTask task, Problem p, IEnumerable<Completion> samples)
    {
        var votes = samples.Select(c => ReasoningTasks.ExtractAnswer(c.Text)).Where(a => a is not null)
            .GroupBy(a => a).OrderByDescending(g => g.Count()).FirstOrDefault();
        return votes is not null && task.Verify(p, votes.Key!) == Verdict.Correct;
    }

    /// <summary>Best-of-j: the index of the highest score among the first j (the earliest on ties).</summary>
    public static int BestIndex(IReadOnlyList<float> scores, int j)
    {
        if (j < 1 || j > scores.Count) throw new ArgumentException($"best-of-{j} needs 1..{scores.Count} scored samples");
        int best = 0;
        for (int i = 1; i < j; i++)
            if (scores[i] > scores[best]) best = i;
        return best;
    }

    static IEnumerable<int> PowersOfTwo(int k)
    {
        for (int j = 1; j <= k; j *= 2) yield return j;
        if ((k & (k - 1)) != 0) yield return k;
    }

    /// <summary>
    /// The unbiased pass@k estimate from n samples of which c are correct (Chen et al. 2021, the Codex paper):
    /// 1 − C(n−c, k) / C(n, k), the chance that k samples drawn without replacement include a correct one.
    /// </summary>
    public static double PassAt(int n, int c, int k)
    {
        if (k > n) throw new ArgumentException($"pass@{k} needs at least {k} samples, got {n}");
        if (n - c < k) return 1.0;
        double missAll = 1.0;
        for (int i = n - c + 1; i <= n; i++) missAll *= 1.0 - (double)k / i;         // Π (1 − k/i), numerically stable
        return 1.0 - missAll;
    }

    static bool Thinks(string text) => text.Contains("<think>", StringComparison.Ordinal);

    /// <summary>Tokens between the first &lt;think&gt; and the following &lt;/think&gt; (or the end), 0 without thinking.</summary>
    public static int ThinkLength(ITokenizer tokenizer, string text)
    {
        int open = text.IndexOf("<think>", StringComparison.Ordinal);
        if (open < 0) return 0;
        int start = open + "<think>".Length, close = text.IndexOf("</think>", start, StringComparison.Ordinal);
        return tokenizer.Encode(text[start..(close < 0 ? text.Length : close)]).Length;
    }
}
