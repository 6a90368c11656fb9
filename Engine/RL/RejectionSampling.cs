using System.Text.Json.Nodes;
using Engine.Data;
using Engine.Model;
using Engine.Tasks;
using Engine.Tokenizers;

namespace Engine.RL;

/// <summary>
/// The R1 recipe's rejection sampling: k samples per problem, keep the verified-correct, strictly
/// formatted ones (each distinct text once) as SFT pairs.
/// </summary>
public static class RejectionSampling
{
    /// <summary>The kept (prompt, completion) pairs and the share of all samples that were accepted.</summary>
    public static (List<(string Prompt, string Completion)> Kept, double Acceptance) Run(Transformer model, ITokenizer tokenizer,
        IReasoningTask task, IReadOnlyList<Problem> problems, int k, float temperature, int maxNewTokens, int seed)
    {
        var kept = new List<(string, string)>();
        int sampled = 0, accepted = 0;
        foreach (var (problem, samples) in VerifiedSampling.Sample(model, tokenizer, task, problems, k, temperature,
            maxNewTokens, new Rng(seed)))
        {
            sampled += samples.Length;
            accepted += samples.Count(s => s.Good);
            foreach (var text in samples.Where(s => s.Good).Select(s => s.Text).Distinct()) kept.Add((problem.Prompt, text));
        }
        return (kept, sampled == 0 ? 0 : (double)accepted / sampled);
    }

    /// <summary>TRL's prompt/completion JSONL, written beside and renamed: a killed run never leaves half a file.</summary>
    public static void WriteSft(string path, IEnumerable<(string Prompt, string Completion)> rows) =>
        Jsonl.WriteAtomic(path, rows.Select(r => new JsonObject { ["prompt"] = r.Prompt, ["completion"] = r.Completion }));
}
