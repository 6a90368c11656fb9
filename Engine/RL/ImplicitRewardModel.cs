using System.Text.Json.Nodes;
using Engine.Autograd;
using Engine.Checkpoints;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;
using Engine.Data;
using Engine.Distributed;

namespace Engine.RL;

/// <summary>Anything that scores prompt + response texts: the scalar-head reward model or the implicit one.</summary>
public interface IRewardScorer
{
    float[] Score(IReadOnlyList<(string Prompt, string Response)> items);
}

/// <summary>The scalar-head reward model as a scorer.</summary>
public sealed class ScalarRewardModel(Transformer rm, ITokenizer tokenizer) : IRewardScorer
{
    public Transformer Model => rm;
    public float[] Score(IReadOnlyList<(string Prompt, string Response)> items) => RewardModel.Score(rm, tokenizer, items);
}

/// <summary>
/// An implicit reward model: a language model whose reward is its log-likelihood ratio to a frozen reference,
/// r(x, y) = β Σ_t [log π_θ(y_t | x, y&lt;t) − log π_ref(y_t | x, y&lt;t)], trained with the same Bradley–Terry loss
/// (DPO's parametrisation; used as an outcome reward model by Yuan et al. 2024 and PRIME, Cui et al. 2025).
/// Why it is here: a scalar head reads one position, so it must re-derive a sum to see that an answer is wrong;
/// the LM head already predicts each answer digit where it is written, so every token is checked in place.
/// </summary>
public sealed class ImplicitRewardModel(Transformer model, Transformer reference, ITokenizer tokenizer, float beta) : IRewardScorer
{
    /// <summary>The marker file of an implicit reward-model checkpoint; the reference is saved in its ref/ folder.</summary>
    public const string MarkerFile = "reward.json";
    public Transformer Model => model;
    public float Beta => beta;

    public float[] Score(IReadOnlyList<(string Prompt, string Response)> items)
    {
        var scores = new List<float>();
        foreach (var chunk in items.Chunk(32))
        {
            var (inputs, targets, mask, T) = Pack(chunk);
            var lp = Rollouts.TokenLogp(model, inputs, targets, chunk.Length, T, 1f);
            var lr = Rollouts.TokenLogp(reference, inputs, targets, chunk.Length, T, 1f);
            scores.AddRange(SequenceRewards(lp, lr, mask, chunk.Length, T));
        }
        return scores.ToArray();
    }

    float[] SequenceRewards(float[] logp, float[] refLogp, float[] mask, int rows, int T)
    {
        var r = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            for (int t = 0; t < T; t++) s += mask[i * T + t] * ((double)logp[i * T + t] - refLogp[i * T + t]);
            r[i] = (float)(beta * s);
        }
        return r;
    }

    /// <summary>prompt + response ids packed as the trainers pack rollouts; a pair longer than the context loses its
    /// oldest tokens.</summary>
    (int[] Inputs, int[] Targets, float[] Mask, int T) Pack(IReadOnlyList<(string Prompt, string Response)> items)
    {
        int max = model.Config.MaxPositions + 1;
        var prompts = new List<int[]>();
        var responses = new List<int[]>();
        foreach (var (prompt, response) in items)
        {
            int[] p = tokenizer.Encode(prompt), r = tokenizer.Encode(response);
            if (r.Length == 0) throw new ArgumentException("implicit reward model: an empty response");
            int[] seq = [.. p, .. r];
            seq = seq[Math.Max(0, seq.Length - max)..];
            int promptLength = Math.Max(1, seq.Length - r.Length);          // at least one token to predict the first from
            prompts.Add(seq[..promptLength]);
            responses.Add(seq[promptLength..]);
        }
        return Rollouts.Pack(prompts, responses, tokenizer.PadId);
    }

    /// <summary>One Bradley–Terry step on the implicit rewards (DPO's loss); returns the loss and the pairwise accuracy.</summary>
    /// <param name="share">Data-parallel: this rank's share of the step's pairs (default: all of them, in one
    /// process).</param>
    public (float Loss, float Accuracy) Step(AdamW optimizer, IReadOnlyList<Preference> pairs, float lr, float clip,
        StepShare? share = null)
    {
        int P = pairs.Count, V = model.Config.VocabSize;
        var (inputs, targets, mask,
            T) = Pack(pairs.Select(p => (p.Prompt,
            p.Chosen)).Concat(pairs.Select(p => (p.Prompt, p.Rejected))).ToList());
        var refLogp = Rollouts.TokenLogp(reference, inputs, targets, 2 * P, T, 1f);
        optimizer.ZeroGrad();
        var logits = model.Forward(inputs, 2 * P, T);
        // The rewards need the current log-probs before the gradient pass: one kernel pass into a scratch buffer
        // reads them off the same forward (the logits stay intact for the second pass).
        var zeros = new float[2 * P * T];
        var oldLogp = FusedPolicy.Run(model.Backend, logits.Data, model.Backend.Allocate(2 * P * T * V), targets, zeros, zeros, zeros, null,
            2 * P, T, V, new FusedLossOptions()).Logp;
        var r = SequenceRewards(oldLogp, refLogp, mask, 2 * P, T);
        var (loss, gc, gr, acc) = PpoMath.BradleyTerry(r[..P], r[P..]);
        // ∂loss/∂log π(y_t) = β·∂loss/∂r for every response token. The fused policy kernel at ratio 1 (old = current
        // log-probs) has ∂(−A·ratio)/∂log π = −A, so A = −β·∂loss/∂r with weight 1 per token carries exactly that gradient.
        var advantages = new float[2 * P * T];
        for (int i = 0; i < 2 * P; i++)
        {
            float g = (i < P ? gc[i] : gr[i - P]) * (share?.Weight ?? 1f);
            for (int t = 0; t < T; t++) advantages[i * T + t] = -beta * g * mask[i * T + t];
        }
        var (policyLoss, _) = Ops.PolicyLoss(logits, targets, oldLogp, advantages, mask, null, 2 * P, T, new FusedLossOptions(),
            tokenDenominator: 1f);
        policyLoss.Backward();
        if (share is not null) (loss, acc) = share.Reduce(loss, acc);
        GradClip.ClipGlobalNorm(optimizer.Parameters, clip);
        optimizer.Update(lr);
        return (loss, acc);
    }

    /// <summary>model in dir, the reference in dir/ref, then the marker (written last: no marker, no reward model).</summary>
    public void Save(string dir)
    {
        Checkpoint.Save(dir, model, tokenizer);
        Checkpoint.Save(Path.Combine(dir, "ref"), reference, tokenizer);
        if (Distributed.Dist.IsRoot)
            File.WriteAllText(Path.Combine(dir, MarkerFile),
                new JsonObject { ["head"] = "implicit", ["beta"] = beta }.Text());
    }

    public static bool IsImplicit(string dir) => File.Exists(Path.Combine(dir, MarkerFile));

    public static ImplicitRewardModel Load(string dir, Kernels.IBackend backend)
    {
        var marker = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, MarkerFile)))?.AsObject()
            ?? throw new InvalidDataException($"{dir}/{MarkerFile}: not a JSON object");
        if (marker["head"]?.GetValue<string>() != "implicit")
            throw new InvalidDataException($"{dir}/{MarkerFile}: head must be \"implicit\"");
        float beta = marker["beta"]?.GetValue<float>() ?? throw new InvalidDataException($"{dir}/{MarkerFile}: no beta");
        var (model, tokenizer) = Checkpoint.Load(dir, backend, "--reward-model");
        string refDir = Path.Combine(dir, "ref");
        if (!Directory.Exists(refDir)) throw new InvalidDataException($"{dir}: an implicit reward model needs its reference in {refDir}");
        return new ImplicitRewardModel(model, Checkpoint.LoadModel(refDir, backend), tokenizer, beta);
    }
}
