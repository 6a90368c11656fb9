namespace Engine.Generation;

/// <summary>
/// Budget forcing (Muennighoff et al. 2025, "s1"): a row's thinking — the tokens after `&lt;think&gt;` — is
/// held between <see cref="Min"/> and <see cref="Max"/> tokens. Below the minimum, `&lt;/think&gt;` and the end
/// of text cannot be drawn; at the maximum, `&lt;/think&gt;` is forced. A row is thinking once it emits
/// `&lt;think&gt;` or its prompt ends with it. Both markers must be single tokens (the char tokenizer's are).
/// </summary>
public sealed class ThinkBudget(int thinkId, int endThinkId, int eosId, int min, int max)
{
    /// <summary>Per-row state: inside a thinking block, and how many thinking tokens so far.</summary>
    public sealed class Row
    {
        public bool Thinking;
        public int Count;
    }

    public Row Start(int[] prompt) => new() { Thinking = prompt.Length > 0 && prompt[^1] == thinkId };

    /// <summary>The token this row must emit now (the forced `&lt;/think&gt;`), or null to sample.</summary>
    public int? Forced(Row row) => row.Thinking && max >= 0 && row.Count >= max ? endThinkId : null;

    /// <summary>Tokens the row may not draw now: the end of thinking and of text, while below the minimum.</summary>
    public int[] Suppressed(Row row) => row.Thinking && row.Count < min ? [endThinkId, eosId] : [];

    public void Emitted(Row row, int token)
    {
        if (token == thinkId) { row.Thinking = true; row.Count = 0; }
        else if (token == endThinkId) row.Thinking = false;
        else if (row.Thinking) row.Count++;
    }
}
