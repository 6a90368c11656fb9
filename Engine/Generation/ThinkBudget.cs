namespace Engine.Generation;

/// <summary>
/// Budget forcing (Muennighoff et al. 2025, "s1"): a row's thinking — the tokens after `&lt;think&gt;` — is
/// held between <see cref="Min"/> and <see cref="Max"/> tokens. Below the minimum, `&lt;/think&gt;` and the end
/// of text cannot be drawn; at the maximum, `&lt;/think&gt;` is forced. A row is thinking once it emits
/// `&lt;think&gt;` or its prompt ends with it. Both markers must be single tokens (the char tokenizer's are).
/// With `wait` (s1's "Wait"), a row below the minimum may draw `&lt;/think&gt;`, and when it does the wait text is
/// written instead (the first token in its place, the rest forced after it), nudging the model to go on thinking.
/// </summary>
public sealed class ThinkBudget(int thinkId, int endThinkId, int eosId, int min, int max, int[]? wait = null)
{
    /// <summary>Per-row state: inside a thinking block, how many thinking tokens so far, and wait tokens still to
    /// force (Pending[Next..]).</summary>
    public sealed class Row
    {
        public bool Thinking;
        public int Count;
        public int[] Pending = [];
        public int Next;
    }

    public Row Start(int[] prompt) => new() { Thinking = prompt.Length > 0 && prompt[^1] == thinkId };

    bool Waits => wait is { Length: > 0 };

    /// <summary>The token this row must emit now (the forced `&lt;/think&gt;` at the maximum, which wins, or the
    /// rest of a wait text), or null to sample.</summary>
    public int? Forced(Row row) =>
        row.Thinking && max >= 0 && row.Count >= max ? endThinkId
        : row.Next < row.Pending.Length ? row.Pending[row.Next] : null;

    /// <summary>Tokens the row may not draw now, while below the minimum: the end of text, and the end of thinking
    /// unless a wait text replaces it.</summary>
    public int[] Suppressed(Row row) => row.Thinking && row.Count < min ? (Waits ? [eosId] : [endThinkId, eosId]) : [];

    /// <summary>The token to emit for a sampled one: a `&lt;/think&gt;` drawn below the minimum becomes the wait
    /// text's first token (the rest are forced next); anything else stands.</summary>
    public int Replace(Row row, int token)
    {
        if (!Waits || token != endThinkId || !row.Thinking || row.Count >= min) return token;
        (row.Pending, row.Next) = (wait!, 0);
        return wait![0];
    }

    public void Emitted(Row row, int token)
    {
        if (row.Next < row.Pending.Length) row.Next++;
        if (token == thinkId) { row.Thinking = true; row.Count = 0; }
        else if (token == endThinkId) { row.Thinking = false; row.Pending = []; }
        else if (row.Thinking) row.Count++;
    }
}
