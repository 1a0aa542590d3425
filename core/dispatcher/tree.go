package dispatcher

// avlPostOrder returns the set ids in the order Kamailio 5.6 walks its
// sets: it keeps them in an AVL tree, inserted in file order, and walks
// it children first (smaller, larger, then the node). dispatcher.list
// (RPC) and the probing timer follow that order.
func avlPostOrder(ids []int) []int {
	var root *avlNode
	for _, id := range ids {
		root = root.insert(id)
	}
	out := make([]int, 0, len(ids))
	root.postOrder(&out)
	return out
}

type avlNode struct {
	id     int
	height int
	kid    [2]*avlNode // smaller, larger
}

func (n *avlNode) h() int {
	if n == nil {
		return 0
	}
	return n.height
}

func (n *avlNode) fix() {
	n.height = 1 + max(n.kid[0].h(), n.kid[1].h())
}

// rotate lifts the child on side dir over n and returns it.
func (n *avlNode) rotate(dir int) *avlNode {
	c := n.kid[dir]
	n.kid[dir] = c.kid[1-dir]
	c.kid[1-dir] = n
	n.fix()
	c.fix()
	return c
}

// insert adds id (a no-op when present) and returns the new subtree root.
func (n *avlNode) insert(id int) *avlNode {
	if n == nil {
		return &avlNode{id: id, height: 1}
	}
	if id == n.id {
		return n
	}
	dir := 0
	if id > n.id {
		dir = 1
	}
	n.kid[dir] = n.kid[dir].insert(id)
	n.fix()
	if n.kid[dir].h()-n.kid[1-dir].h() < 2 {
		return n
	}
	c := n.kid[dir]
	if c.kid[1-dir].h() > c.kid[dir].h() {
		n.kid[dir] = c.rotate(1 - dir) // the inner case: two rotations
	}
	return n.rotate(dir)
}

func (n *avlNode) postOrder(out *[]int) {
	if n == nil {
		return
	}
	n.kid[0].postOrder(out)
	n.kid[1].postOrder(out)
	*out = append(*out, n.id)
}
