// The BPE merge loop of every memlens tokenizer (byte-level, SentencePiece-BPE, llama2.c):
// repeatedly merge the adjacent pair that comes first (lowest priority; the leftmost pair on
// ties), until no adjacent pair merges. HuggingFace's BPE (word.rs: rank, then position),
// GPT-2's encoder.py (lowest rank; a pair's occurrences left to right) and llama2.c's run.c
// (highest score, the first found scanning left to right) all choose this way; a tokenizer
// only says which pairs merge, into what, and how early.
//
// O(n log n): a heap of candidate pairs over a doubly linked list of the symbols; an entry
// that an earlier merge made stale (either side no longer holds the ids it was made for) is
// skipped when it comes up.
#ifndef MEMLENS_CORE_TOKENIZER_BPE_MERGE_H_
#define MEMLENS_CORE_TOKENIZER_BPE_MERGE_H_

#include <queue>
#include <vector>

namespace memlens {

// What a pair merges into, and how early (lower first).
template <typename Priority>
struct BpeMerge {
  Priority priority;
  int merged;
};

// Merges `symbols` (token ids) in place. `pair(left_id, right_id, &merge)` returns whether the
// pair merges and fills `merge` when it does.
template <typename Priority, typename PairFn>
void MergeBpe(std::vector<int>* symbols, PairFn pair) {
  std::vector<int>& tok = *symbols;
  const int n = static_cast<int>(tok.size());
  std::vector<int> prev(n), next(n);
  for (int k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  struct Cand {
    Priority priority;
    int left;  // node index: the order of positions
    int left_id, right_id, merged;
  };
  auto later = [](const Cand& a, const Cand& b) {
    if (a.priority != b.priority) return b.priority < a.priority;
    return a.left > b.left;
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(later)> heap(later);
  auto consider = [&](int left) {
    const int right = next[left];
    if (right < 0) return;
    BpeMerge<Priority> m;
    if (pair(tok[left], tok[right], &m)) {
      heap.push(Cand{m.priority, left, tok[left], tok[right], m.merged});
    }
  };
  for (int k = 0; k + 1 < n; ++k) consider(k);
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.left] || tok[c.left] != c.left_id) continue;
    const int right = next[c.left];
    if (right < 0 || tok[right] != c.right_id) continue;
    tok[c.left] = c.merged;
    alive[right] = false;
    next[c.left] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.left;
    if (prev[c.left] >= 0) consider(prev[c.left]);
    consider(c.left);
  }
  int out = 0;
  for (int k = n > 0 ? 0 : -1; k >= 0; k = next[k]) tok[out++] = tok[k];
  tok.resize(out);
}

}  // namespace memlens

#endif  // MEMLENS_CORE_TOKENIZER_BPE_MERGE_H_
