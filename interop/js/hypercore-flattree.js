// Dumps flat-tree results as JSON vectors for the Go flattree tests.
// Usage: node hypercore-flattree.js > flattree/testdata/vectors.json
const flat = require('flat-tree')

const nodes = []
for (let i = 0; i < 300; i++) {
  const n = {
    index: i,
    depth: flat.depth(i),
    offset: flat.offset(i),
    parent: flat.parent(i),
    sibling: flat.sibling(i),
    children: flat.children(i),
    leftSpan: flat.leftSpan(i),
    rightSpan: flat.rightSpan(i),
    count: flat.count(i),
    countLeaves: flat.countLeaves(i),
    nextLeaf: flat.nextLeaf(i)
  }
  if ((i & 1) === 0) n.fullRoots = flat.fullRoots(i)
  nodes.push(n)
}

// Big indexes near 2^53 stay exact in JS.
const big = [2 ** 40, 2 ** 40 - 1, 2 ** 48 - 1, 2 ** 50 + 6, 2 ** 45 + 4].map((i) => ({
  index: i,
  depth: flat.depth(i),
  offset: flat.offset(i),
  parent: flat.parent(i),
  sibling: flat.sibling(i),
  leftSpan: flat.leftSpan(i),
  rightSpan: flat.rightSpan(i)
}))

// Iterator walks: a fixed sequence of moves from several starts.
const moves = ['parent', 'sibling', 'leftChild', 'rightChild', 'next', 'prev', 'parent', 'rightSpan', 'parent', 'parent', 'leftSpan', 'nextTree', 'parent', 'prevTree']
const walks = []
for (const start of [0, 1, 2, 3, 7, 10, 22, 63]) {
  const ite = flat.iterator(start)
  const seen = []
  for (const m of moves) {
    ite[m]()
    seen.push([ite.index, ite.offset, ite.factor, ite.isLeft(), ite.contains(start), ite.isRoot(8), ite.count()])
  }
  walks.push({ start, moves, seen })
}

// FullRoot/NextTree walks for heads.
const rootWalks = []
for (let head = 0; head <= 64; head += 2) {
  const r = []
  for (const ite = flat.iterator(0); ite.fullRoot(head); ite.nextTree()) r.push(ite.index)
  rootWalks.push({ head, roots: r })
}

process.stdout.write(JSON.stringify({ nodes, big, walks, rootWalks }))
